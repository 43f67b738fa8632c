package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	_ "modernc.org/sqlite" // the SQLite driver FerretDB itself uses; registered as "sqlite"
)

// Embedded is a FerretDB v1 (SQLite handler) running inside this process on
// a loopback address, so that the store talks to it through the same MongoDB
// driver and code path as to a real MongoDB.
type Embedded struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
	logger *slog.Logger

	mu           sync.Mutex
	sqlite       map[string]*sql.DB // database name → handle on its SQLite file
	indexed      map[string]bool    // "db.collection" → _id index fixed
	checkpointed chan struct{}      // closed when checkpoint has stopped
}

// SQLite's automatic WAL checkpoint runs inside the commit that takes the
// WAL past its mark (1,000 pages by default): that write, and every write
// queued behind it at the write gate, waits while ~4 MB are copied into
// the database file and fsynced (40–55 ms here, the slowest appends of a
// run). So the embedded store checkpoints in the background instead, a
// PASSIVE checkpoint every checkpointEvery, which writers do not wait
// for; the automatic checkpoint stays as a backstop at walBackstopPages.
const (
	checkpointEvery  = 250 * time.Millisecond
	walBackstopPages = 16000 // 64 MiB of WAL
)

// checkpoint runs the background checkpoints until ctx ends.
func (e *Embedded) checkpoint(ctx context.Context) {
	defer close(e.checkpointed)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	lastFailure := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		e.mu.Lock()
		dbs := make([]*sql.DB, 0, len(e.sqlite))
		for _, db := range e.sqlite {
			dbs = append(dbs, db)
		}
		e.mu.Unlock()
		failed := ""
		for _, db := range dbs {
			if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil && ctx.Err() == nil {
				failed = err.Error()
			}
		}
		// Logged when the outcome changes, not four times a second while
		// the disk is full.
		switch {
		case failed != "" && failed != lastFailure:
			e.logger.Warn("embedded store: WAL checkpoints fail", "err", failed)
		case failed == "" && lastFailure != "":
			e.logger.Info("embedded store: WAL checkpoints succeed again")
		}
		lastFailure = failed
	}
}

// EmbeddedConfig says where the embedded store keeps its data and listens.
type EmbeddedConfig struct {
	Dir    string // data directory; created if missing
	Listen string // TCP address; "" means 127.0.0.1:0 (any free port)
	Logger *slog.Logger
}

// StartEmbedded starts FerretDB with its SQLite files under cfg.Dir. Stop it
// with Close. A fixed cfg.Listen lets an operator connect with mongosh while
// the server runs.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded store: data directory: %w", err)
	}
	// FerretDB logs every connection at info level and dumps every refused
	// command (such as the driver's endSessions, which it lacks) at warning
	// level; keep its errors only.
	logger := slog.New(levelFilter{min: slog.LevelError, h: cfg.Logger.Handler()}).With("component", "ferretdb")
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: cfg.Listen},
		Handler:  "sqlite",
		// Incremental auto-vacuum lets ReclaimSpace give the pages that
		// compaction frees back to the file system. It takes effect on
		// databases created from now on; older ones keep auto_vacuum none.
		// The busy handler must come first: each new connection runs the
		// pragmas in order, and without it one that meets a writer fails
		// at once with SQLITE_BUSY (FerretDB adds journal_mode(wal) after).
		// WAL checkpoints run in the background (checkpoint), not in the
		// write that crosses the mark; the automatic one is a backstop.
		// Statement journals are kept in memory: FerretDB inserts each
		// document of an insert as its own statement, and each one after
		// the first wrote its journal to a temporary file (8 % of the
		// CPU of 8 writers over 20 rooms). The WAL alone makes a commit
		// durable, so this costs no safety.
		SQLiteURL: "file:" + dir + "/?_pragma=busy_timeout(10000)&_pragma=auto_vacuum(incremental)&_pragma=temp_store(memory)" +
			fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", walBackstopPages),
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{dir: dir, cancel: cancel, done: make(chan struct{}), logger: cfg.Logger,
		sqlite: map[string]*sql.DB{}, indexed: map[string]bool{}}
	e.checkpointed = make(chan struct{})
	go func() {
		defer close(e.done)
		_ = f.Run(ctx)
	}()
	go e.checkpoint(ctx)
	e.uri = f.MongoDBURI() // blocks until the listener is up
	return e, nil
}

// URI is the MongoDB connection string of the embedded store.
func (e *Embedded) URI() string { return e.uri }

// Dir is the embedded store's data directory.
func (e *Embedded) Dir() string { return e.dir }

// Close stops FerretDB and waits until it has closed its SQLite files.
func (e *Embedded) Close() error {
	e.cancel()
	<-e.done
	<-e.checkpointed
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, db := range e.sqlite {
		errs = append(errs, db.Close())
	}
	e.sqlite = map[string]*sql.DB{}
	return errors.Join(errs...)
}

// ReclaimSpace truncates database's SQLite file by the pages that deleted
// documents left free, a few thousand at a time, each step through write
// (the store's write gate); a database created with auto_vacuum none
// keeps them for reuse. It returns the bytes given back.
func (e *Embedded) ReclaimSpace(ctx context.Context, database string, write func(context.Context, func() error) error) (int64, error) {
	db, err := e.handle(database)
	if err != nil {
		return 0, err
	}
	var mode, pageSize, before, after int64
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		return 0, err // 2: incremental
	}
	if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return 0, err
	}
	if err := db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&before); err != nil {
		return 0, err
	}
	for free := before; free > 0; {
		err := write(ctx, func() error {
			_, err := db.ExecContext(ctx, `PRAGMA incremental_vacuum(4000)`)
			return err
		})
		if err != nil {
			return 0, err
		}
		if err := db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&after); err != nil {
			return 0, err
		}
		if after >= free {
			break
		}
		free = after
	}
	return (before - after) * pageSize, nil
}

// handle is this process's own connection to database's SQLite file.
func (e *Embedded) handle(database string) (*sql.DB, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handleLocked(database)
}

// tableOf is the SQLite table FerretDB keeps collection in.
func tableOf(ctx context.Context, db *sql.DB, database, collection string) (string, error) {
	var table string
	err := db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, collection).Scan(&table)
	if err != nil {
		return "", fmt.Errorf("embedded store: table of %s.%s: %w", database, collection, err)
	}
	return table, nil
}

// handleLocked (e.mu held) is this process's own connection to
// database's SQLite file.
func (e *Embedded) handleLocked(database string) (*sql.DB, error) {
	db := e.sqlite[database]
	if db == nil {
		var err error
		path := filepath.Join(e.dir, database+".sqlite")
		if db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)"); err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		e.sqlite[database] = db
	}
	return db, nil
}

// fixIDIndex makes FerretDB's unique _id index one that its own _id
// lookups can use. FerretDB v1.24 indexes _id as `_ferretdb_sjson->"_id"`
// but queries, updates and deletes by `_ferretdb_sjson->'$._id'`; SQLite
// matches index expressions literally, so every _id lookup was a full
// table scan (findOne of a recent event took 75 ms at 30k documents,
// updateOne 150 ms). Both expressions give the same value, so the unique
// index is made again, under its name, on the expression the lookups use:
// one index for uniqueness and lookups, where a second index beside it
// (as stores made before have, replaced here) cost every insert another
// B-tree. FerretDB knows its indexes by name only, so this changes nothing
// else for it. The swap is one SQLite transaction: uniqueness never lapses.
func (e *Embedded) fixIDIndex(ctx context.Context, database, collection string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := database + "." + collection
	if e.indexed[key] {
		return nil
	}
	db, err := e.handleLocked(database)
	if err != nil {
		return err
	}
	table, err := tableOf(ctx, db, database, collection)
	if err != nil {
		return err
	}
	unique := table + "__id_" // FerretDB's name for the index of _id_
	var def string
	err = db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, unique).Scan(&def)
	if err != nil {
		return fmt.Errorf("embedded store: FerretDB's _id index of %s: %w", key, err)
	}
	if !strings.Contains(def, idExpression) {
		// Once begun, finished: a request that ends meanwhile must not
		// roll back a rebuild that the next one would start again.
		ctx := context.WithoutCancel(ctx)
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("embedded store: index on %s: %w", key, err)
		}
		defer tx.Rollback()
		for _, q := range []string{
			fmt.Sprintf(`DROP INDEX %q`, unique),
			fmt.Sprintf(`CREATE UNIQUE INDEX %q ON %q (%s)`, unique, table, idExpression),
			fmt.Sprintf(`DROP INDEX IF EXISTS %q`, table+"_eventstore_id"), // the second index of stores made before
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("embedded store: index on %s: %w", key, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("embedded store: index on %s: %w", key, err)
		}
		if took := time.Since(start); took > time.Second {
			e.logger.Info("embedded store: made the _id index usable for lookups", "collection", key, "took", took.Round(time.Millisecond))
		}
	}
	e.indexed[key] = true
	return nil
}

// idExpression is the expression FerretDB's _id lookups use.
const idExpression = `_ferretdb_sjson->'$._id'`

// levelFilter drops records below min before they reach h.
type levelFilter struct {
	min slog.Level
	h   slog.Handler
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{min: f.min, h: f.h.WithAttrs(a)}
}
func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{min: f.min, h: f.h.WithGroup(name)}
}
