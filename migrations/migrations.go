package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Step is one schema change. Up must be idempotent: it may run again after a
// crash before its record was written, or in two processes at once.
type Step struct {
	Version int
	Name    string
	Up      func(ctx context.Context, db *database.Conn, log *slog.Logger) error // log: progress of long steps
}

// Steps are every migration, in order. Append new steps; never edit or
// renumber one that has shipped.
var Steps = []Step{
	{1, "contexts registry", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		for _, name := range []string{ContextsCollection, MigrationsCollection} {
			if err := db.CreateCollection(ctx, name); err != nil {
				return err
			}
		}
		return createIndexes(ctx, db, db.Collection(ContextsCollection), contextsIndexes)
	}},
	{2, "collections and indexes of every context type", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		types, err := ContextTypes(ctx, db)
		if err != nil {
			return err
		}
		for _, ct := range types {
			if err := PrepareContextType(ctx, db, ct); err != nil {
				return err
			}
		}
		return nil
	}},
	{3, "audit checkpoints", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		return db.CreateCollection(ctx, CheckpointsCollection)
	}},
	{4, "federation", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		for _, name := range []string{ServerKeysCollection, CursorsCollection, TransactionsCollection, PendingCollection} {
			if err := db.CreateCollection(ctx, name); err != nil {
				return err
			}
		}
		return nil
	}},
	{5, "federation leases", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		return db.CreateCollection(ctx, LeasesCollection)
	}},
	{6, "no secondary indexes on the embedded store", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		if err := dropUnusedIndexes(ctx, db, db.Collection(ContextsCollection), contextsIndexes); err != nil {
			return err
		}
		types, err := ContextTypes(ctx, db)
		if err != nil {
			return err
		}
		for _, ct := range types {
			if err := dropUnusedIndexes(ctx, db, db.Collection(EventsCollection(ct)), EventIndexes); err != nil {
				return err
			}
		}
		return nil
	}},
	{7, "timeline positions and commit logs", upTimeline},
	{8, "federation peer keys", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		return db.CreateCollection(ctx, PeerKeysCollection)
	}},
	{9, "federation replay record", func(ctx context.Context, db *database.Conn, _ *slog.Logger) error {
		return db.CreateCollection(ctx, ReplaysCollection)
	}},
	{10, "clid records beside the events", upClidRecords},
	{11, "commit log documents on one shard key", upLogCid},
}

// contextsIndexes are the secondary indexes of the contexts registry.
var contextsIndexes = []database.Index{
	{Name: "ct_cid", Keys: bson.D{{Key: "ct", Value: 1}, {Key: "cid", Value: 1}}},
}

// record is the schema_migrations document of an applied step.
type record struct {
	Version   int       `bson:"_id"`
	Name      string    `bson:"name"`
	AppliedAt time.Time `bson:"appliedAt"`
	By        string    `bson:"by"`
}

// StepStatus is a step and when it was applied (zero if pending).
type StepStatus struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	AppliedAt time.Time `json:"appliedAt,omitzero"`
}

// Status lists every step with its state.
func Status(ctx context.Context, db *database.Conn) ([]StepStatus, error) {
	var applied []record
	if err := db.Collection(MigrationsCollection).FindAll(ctx, bson.D{}, nil, &applied); err != nil {
		return nil, err
	}
	at := map[int]time.Time{}
	for _, r := range applied {
		at[r.Version] = r.AppliedAt
	}
	out := make([]StepStatus, len(Steps))
	for i, s := range Steps {
		out[i] = StepStatus{Version: s.Version, Name: s.Name, AppliedAt: at[s.Version]}
	}
	return out, nil
}

// Pending is the number of steps not yet applied.
func Pending(ctx context.Context, db *database.Conn) (int, error) {
	status, err := Status(ctx, db)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range status {
		if s.AppliedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// Up applies every pending step in order and returns those it applied.
func Up(ctx context.Context, db *database.Conn, logger *slog.Logger) ([]StepStatus, error) {
	ctx = database.Scatter(ctx, database.ScatterMigrations)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	status, err := Status(ctx, db)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	by := fmt.Sprintf("%s/%d", host, os.Getpid())
	var done []StepStatus
	for i, s := range Steps {
		if !status[i].AppliedAt.IsZero() {
			continue
		}
		start := time.Now()
		if err := s.Up(ctx, db, logger.With("migration", s.Version)); err != nil {
			return done, fmt.Errorf("migration %d (%s): %w", s.Version, s.Name, err)
		}
		r := record{Version: s.Version, Name: s.Name, AppliedAt: time.Now().UTC().Truncate(time.Millisecond), By: by}
		err := db.Collection(MigrationsCollection).InsertOne(ctx, r)
		if err != nil && !database.IsDuplicate(err) { // a duplicate: another process recorded it first
			return done, fmt.Errorf("recording migration %d: %w", s.Version, err)
		}
		logger.Info("migration applied", "version", s.Version, "name", s.Name, "took", time.Since(start).Round(time.Millisecond))
		done = append(done, StepStatus{Version: s.Version, Name: s.Name, AppliedAt: r.AppliedAt})
	}
	return done, nil
}

// ErrPending is returned by Check when steps are pending.
var ErrPending = errors.New("schema migrations are pending; run `eventstore migrate up`")

// Check returns ErrPending unless every step is applied.
func Check(ctx context.Context, db *database.Conn) error {
	n, err := Pending(ctx, db)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%w (%d)", ErrPending, n)
	}
	return nil
}
