package audit

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/mod/sumdb/note"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
)

// Source is what the audit reads a store through; *store.Store is one.
type Source interface {
	// ContextTypes and Contexts list what the registry knows.
	ContextTypes(ctx context.Context) ([]string, error)
	Contexts(ctx context.Context, ct string) ([]string, error)
	// Registered says whether a context is in the registry, by _id.
	Registered(ctx context.Context, ct, cid string) (bool, error)
	// ScanContexts hands over every document of a type (or of one
	// context) raw, for store.DecodeRecord; with timeline, one context's
	// documents as its head log names them, read by _id: O(the context)
	// in any store.
	ScanContexts(ctx context.Context, ct, cid string, timeline bool, fn func(batch []bson.Raw) error) error
	EstimatedDocuments(ctx context.Context, ct string) (int64, error)
	// LatestVersion and Version read a context's head versions by _id.
	LatestVersion(ctx context.Context, ct, cid string, from int64) (*store.HeadVersion, error)
	Version(ctx context.Context, ct, cid string, seq int64) (*store.HeadVersion, error)
	// StoredEvents reads events by _id, as stored.
	StoredEvents(ctx context.Context, ct, cid string, ids []string) (map[string]*store.StoredEvent, error)
	// EditEvents lists the edit events recorded against a target (the
	// store's edit records, derived data: the audit checks what it reads).
	EditEvents(ctx context.Context, ct, target string) ([]string, error)
	// Rederive writes what a repair derived (the only write).
	Rederive(ctx context.Context, ct, cid string, derive func(context.Context) (*store.Derived, error)) (*store.RepairReport, error)
}

// Signatures verifies the origin signatures of events against every key
// this server knows, past ones included (federation.KeyHistory is one).
type Signatures interface {
	// Load brings the known keys up to date; each run calls it first.
	Load(ctx context.Context) error
	// VerifyEvent returns nil if sigs hold a valid signature over event id
	// by a key that server src had at ts; an error with code ENOTFOUND if
	// no key of src that sigs name is known; another error if it is bad.
	// It is called from several goroutines at once.
	VerifyEvent(src, id string, ts int64, sigs map[string]string) error
}

// Config configures an Auditor.
type Config struct {
	Now    func() time.Time // the clock; time.Now when nil
	Logger *slog.Logger     // warnings (a checkpoint that could not be saved); silent when nil
	// Signatures, when set, has every event's signature verified.
	Signatures Signatures
	// Signer signs the checkpoints the audit records, and Verifiers open
	// them (this server's keys, past ones included): checkpoints in the
	// database and the checkpoint file. Without them checkpoints are
	// unsigned and a checkpoint file cannot be used.
	Signer    note.Signer
	Verifiers note.Verifiers
}

// Auditor audits one store and keeps its checkpoints in its database.
type Auditor struct {
	src         Source
	checkpoints *database.Collection
	now         func() time.Time
	log         *slog.Logger
	sigs        Signatures
	signer      note.Signer
	verifiers   note.Verifiers
}

// New returns an Auditor of src whose checkpoints live in db.
func New(src Source, db *database.Conn, cfg Config) *Auditor {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Auditor{src: src, checkpoints: db.Collection(migrations.CheckpointsCollection), now: cfg.Now, log: cfg.Logger,
		sigs: cfg.Signatures, signer: cfg.Signer, verifiers: cfg.Verifiers}
}

// Verify audits the store: see the Problem kinds for what it checks. Its
// error means the audit could not run; problems found are in the report.
func (a *Auditor) Verify(ctx context.Context, opts Options) (*Report, error) {
	rep := &Report{Started: a.now().UTC(), ByKind: map[string]int{}, Problems: []Problem{}, PerCtx: []ContextReport{}}
	r := &run{a: a, rep: rep, opts: opts}
	if a.sigs != nil {
		if err := a.sigs.Load(ctx); err != nil {
			return nil, fmt.Errorf("loading the keys that verify signatures: %w", err)
		}
	}
	if opts.CheckpointFile != "" {
		var err error
		if r.file, err = a.readCheckpointFile(opts.CheckpointFile); err != nil {
			return nil, err
		}
	}
	if opts.Ct != "" {
		if err := eventstore.ValidateContext(opts.Ct, opts.Cid); err != nil {
			return nil, err
		}
		if err := r.context(ctx, opts.Ct, opts.Cid); err != nil {
			return nil, err
		}
	} else {
		types, err := a.src.ContextTypes(ctx)
		if err != nil {
			return nil, err
		}
		for _, ct := range types {
			if err := r.contextType(ctx, ct); err != nil {
				return nil, err
			}
		}
	}
	if r.file != nil {
		r.file.missing(r)
		n, err := r.file.write(a)
		if err != nil {
			return nil, err
		}
		rep.CheckpointFile, rep.FileContexts = r.file.path, n
	}
	rep.Took = time.Since(rep.Started).Seconds()
	rep.Clean = len(rep.Problems) == 0
	sort.Slice(rep.PerCtx, func(i, j int) bool {
		if rep.PerCtx[i].Ct != rep.PerCtx[j].Ct {
			return rep.PerCtx[i].Ct < rep.PerCtx[j].Ct
		}
		return rep.PerCtx[i].Cid < rep.PerCtx[j].Cid
	})
	return rep, nil
}

// run is one audit.
type run struct {
	a    *Auditor
	rep  *Report
	opts Options
	done int64
	file *checkpointFile // nil without Options.CheckpointFile
}

// fileCheckpoint is the checkpoint file's checkpoint of ct/cid, if any.
func (r *run) fileCheckpoint(ct, cid string) *checkpoint {
	if r.file == nil {
		return nil
	}
	return r.file.cps[checkpointID(ct, cid)]
}

func (r *run) progress(n, total int64) {
	r.done += n
	r.rep.Events += n
	if r.opts.Progress != nil {
		r.opts.Progress(r.done, total)
	}
}

// contextType audits every context of one type: by one scan of the
// collection in full mode, or context by context from their checkpoints.
func (r *run) contextType(ctx context.Context, ct string) error {
	if r.opts.Incremental {
		cids, all, err := r.a.checkpointed(ctx, ct)
		if err != nil {
			return err
		}
		if all { // every context has a checkpoint: no scan needed
			for _, cid := range cids {
				if err := r.incremental(ctx, ct, cid); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return r.full(ctx, ct, "")
}

// context audits one context.
func (r *run) context(ctx context.Context, ct, cid string) error {
	if r.opts.Incremental {
		cp, err := r.a.checkpoint(ctx, ct, cid)
		if err != nil {
			return err
		}
		if cp.usable() {
			return r.incremental(ctx, ct, cid)
		}
	}
	if err := r.full(ctx, ct, cid); err != nil {
		return err
	}
	if len(r.rep.PerCtx) == 0 {
		return eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
	}
	return nil
}

// full audits every context of type ct from one scan, or context cid
// along its head log (by a scan if the head log itself is damaged).
func (r *run) full(ctx context.Context, ct, cid string) error {
	graphs, err := r.a.readGraphs(ctx, ct, cid, cid != "", r.progress)
	if cid != "" && eventstore.ErrorCode(err) == eventstore.ENOTFOUND {
		// No head: a room that does not exist (answered 404 without a
		// scan), or a registered one whose head versions are gone.
		if registered, rerr := r.a.src.Registered(ctx, ct, cid); rerr != nil {
			return rerr
		} else if registered {
			err = eventstore.Errorf(eventstore.EINTERNAL, "context %s/%s is registered but has no head", ct, cid)
		}
	}
	if cid != "" && eventstore.ErrorCode(err) == eventstore.EINTERNAL {
		r.a.log.Warn("the head log does not lead through the context; scanning it instead", "ct", ct, "cid", cid, "err", err)
		r.rep.Events, r.done = 0, 0
		graphs, err = r.a.readGraphs(ctx, ct, cid, false, r.progress)
	}
	if err != nil {
		return err
	}
	for _, g := range graphs {
		if g.cp, err = r.a.checkpoint(ctx, ct, g.cid); err != nil {
			return err
		}
		g.filecp = r.fileCheckpoint(ct, g.cid)
		leaves, err := g.check(ctx, nil)
		if err != nil {
			return err
		}
		if err := g.checkData(ctx, r.a.src, r.a.sigs); err != nil {
			return err
		}
		if err := r.finish(ctx, g, leaves, int64(len(g.nodes)), "full"); err != nil {
			return err
		}
	}
	return nil
}

// finish records a context's result and, if it is clean, its checkpoint.
// Flag mismatches are confirmed first (confirm.go).
func (r *run) finish(ctx context.Context, g *graph, leaves []string, events int64, mode string) error {
	problems, err := r.a.confirmFlags(ctx, g, g.problems)
	if err != nil {
		return err
	}
	if problems, err = r.a.confirmData(ctx, g, problems); err != nil {
		return err
	}
	for _, p := range problems {
		r.rep.Problems = append(r.rep.Problems, p)
		r.rep.ByKind[p.Kind]++
	}
	r.rep.Contexts++
	r.rep.Redacted += g.redacted
	r.rep.PerCtx = append(r.rep.PerCtx, ContextReport{Ct: g.ct, Cid: g.cid, Events: events, Redacted: g.redacted,
		Leaves: len(leaves), Problems: len(problems), Checked: mode})
	// A bad checkpoint in the database is reported once and replaced: the
	// events were checked without it.
	clean := !slices.ContainsFunc(problems, func(p Problem) bool { return p.Kind != ProblemBadCheckpoint })
	if r.file != nil {
		r.file.seen[checkpointID(g.ct, g.cid)] = true
		if clean && g.head != nil {
			r.file.clean[checkpointID(g.ct, g.cid)] = newCheckpoint(g.ct, g.cid, g.head)
		}
	}
	if clean && g.head != nil {
		if err := r.a.saveCheckpoint(ctx, g.ct, g.cid, g.head); err != nil {
			r.a.log.Warn("saving an audit checkpoint", "ct", g.ct, "cid", g.cid, "err", err)
		}
	}
	return nil
}
