package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/store"
)

const (
	flagContext     = "context"
	flagJSON        = "json"
	flagIncremental = "incremental"
	flagRepair      = "repair"
	flagCheckpoints = "checkpoints"
)

// Exit statuses of verify.
const (
	verifyClean    = 0
	verifyProblems = 1
	verifyFailed   = 2
)

func verifyCommand(env environment) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: flagContext, Usage: "verify one context, given as ct/cid (default: all)"},
		&cli.BoolFlag{Name: flagJSON, Usage: "print the report as JSON, with every problem"},
		&cli.BoolFlag{Name: flagIncremental, Usage: "check only what came after each context's last checkpoint (and that the checkpoint's leaves are still there)"},
		&cli.BoolFlag{Name: flagRepair, Usage: "rebuild derived data (heads, isLeaf flags, d) where it is wrong, then verify again; hashed fields are never touched"},
		&cli.StringFlag{Name: flagCheckpoints, Sources: env.fromEnv("EVENTSTORE_CHECKPOINTS_FILE"),
			Usage: "a file of signed checkpoints kept off the database: history must extend it, and the run writes it again (created if missing)"},
	}
	flags = append(flags, identityFlags(env)...)
	flags = append(flags, storeFlags(env)...)
	flags = append(flags, logFlags(env)...)
	return &cli.Command{
		Name:  "verify",
		Usage: "audit the store: recompute every id and dHash, verify signatures and d, check the graphs, heads and flags",
		Description: `Exit status 0: clean; 1: problems found; 2: the audit could not run.
Selects the store as serve does: --data opens the embedded store of a
stopped server, --mongodb-uri any MongoDB (a running server's embedded
store too, at its --embedded-listen address). Give it the server's
--server-name, --key-file and --peer as serve has them (the same
environment variables work): signatures are verified against the keys
the server knows. Clean contexts get a checkpoint signed by the server's
key, which later runs (full or --incremental) hold history to; with
--checkpoints FILE also a copy off the database.`,
		Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return verify(ctx, cmd, env)
		},
	}
}

func verify(ctx context.Context, cmd *cli.Command, env environment) error {
	failed := func(err error) error { return &exitError{status: verifyFailed, err: err} }
	logger, err := newLogger(cmd, env.stderr)
	if err != nil {
		return failed(err)
	}
	opts := audit.Options{Incremental: cmd.Bool(flagIncremental)}
	if c := cmd.String(flagContext); c != "" {
		ct, cid, ok := strings.Cut(c, "/")
		if !ok {
			return failed(fmt.Errorf("--%s must be ct/cid, like room/general", flagContext))
		}
		opts.Ct, opts.Cid = ct, cid
	}
	if isTerminal(env.stderr) && !cmd.Bool(flagJSON) {
		opts.Progress = progressLine(env.stderr)
	}
	opts.CheckpointFile = cmd.String(flagCheckpoints)
	id, err := readIdentity(cmd)
	if err != nil {
		return failed(err)
	}
	conn, err := connect(ctx, cmd, logger)
	if err != nil {
		return failed(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	keys, err := federation.ReadKeyring(ctx, conn, id.keyFile)
	if err != nil {
		return failed(fmt.Errorf("this server's keys, which verify its events and sign checkpoints: %w", err))
	}
	cfg, err := id.auditConfig(ctx, conn, keys, logger)
	if err != nil {
		return failed(err)
	}
	st, err := store.New(conn, store.Options{Server: id.server, Logger: logger, ReadOnly: !cmd.Bool(flagRepair)})
	if err != nil {
		return failed(err)
	}
	defer st.Close()
	auditor := audit.New(st, conn, cfg)
	rep, err := auditor.Verify(ctx, opts)
	if opts.Progress != nil {
		fmt.Fprintln(env.stderr)
	}
	if err != nil {
		return failed(err)
	}
	var repairs []*store.RepairReport
	if cmd.Bool(flagRepair) && !rep.Clean {
		if repairs, err = auditor.RepairContexts(ctx, rep); err != nil {
			return failed(fmt.Errorf("repair: %w", err))
		}
		if len(repairs) > 0 {
			if rep, err = auditor.Verify(ctx, opts); err != nil {
				return failed(err)
			}
		}
	}
	if cmd.Bool(flagJSON) {
		out := struct {
			*audit.Report
			Repairs []*store.RepairReport `json:"repairs,omitempty"`
		}{rep, repairs}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return failed(err)
		}
	} else {
		printRepairs(env.stdout, repairs)
		printReport(env.stdout, rep)
	}
	if !rep.Clean {
		return &exitError{status: verifyProblems}
	}
	return nil
}

// progressLine rewrites one terminal line with the audit's progress.
func progressLine(w io.Writer) func(done, total int64) {
	start := time.Now()
	last := time.Time{}
	return func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond {
			return
		}
		last = time.Now()
		rate := float64(done) / time.Since(start).Seconds()
		if total > 0 {
			fmt.Fprintf(w, "\rverified %d of about %d events, %.0f events/s   ", done, total, rate)
		} else {
			fmt.Fprintf(w, "\rverified %d events, %.0f events/s   ", done, rate)
		}
	}
}

func printReport(w io.Writer, rep *audit.Report) {
	rate := 0.0
	if rep.Took > 0 {
		rate = float64(rep.Events) / rep.Took
	}
	fmt.Fprintf(w, "verified %d contexts, %d events (%d redacted) in %.1fs, %.0f events/s\n",
		rep.Contexts, rep.Events, rep.Redacted, rep.Took, rate)
	if rep.CheckpointFile != "" {
		fmt.Fprintf(w, "checkpoint file %s: %d contexts\n", rep.CheckpointFile, rep.FileContexts)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTEXT\tCHECKED\tEVENTS\tREDACTED\tLEAVES\tPROBLEMS")
	for _, c := range rep.PerCtx {
		fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%d\t%d\t%d\n", c.Ct, c.Cid, c.Checked, c.Events, c.Redacted, c.Leaves, c.Problems)
	}
	tw.Flush()
	if rep.Clean {
		fmt.Fprintln(w, "clean: no problems found")
		return
	}
	fmt.Fprintf(w, "\n%d problems:\n", len(rep.Problems))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kind := range slices.Sorted(maps.Keys(rep.ByKind)) {
		fmt.Fprintf(tw, "  %s\t%d\n", kind, rep.ByKind[kind])
	}
	tw.Flush()
	const shown = 50
	fmt.Fprintln(w)
	for i, p := range rep.Problems {
		if i == shown {
			fmt.Fprintf(w, "… and %d more (--json lists them all)\n", len(rep.Problems)-shown)
			break
		}
		event := p.Event
		if event == "" {
			event = "-"
		}
		fmt.Fprintf(w, "%s/%s %s %s: %s\n", p.Ct, p.Cid, p.Kind, event, p.Detail)
	}
}

func printRepairs(w io.Writer, repairs []*store.RepairReport) {
	for _, r := range repairs {
		if !r.Changed() {
			continue
		}
		fmt.Fprintf(w, "repaired %s/%s:", r.Ct, r.Cid)
		if r.HeadFixed {
			fmt.Fprintf(w, " head leaves %v → %v, count %d → %d;", r.LeavesBefore, r.LeavesAfter, r.CountBefore, r.CountAfter)
		}
		fmt.Fprintf(w, " isLeaf set on %d, cleared on %d", len(r.FlagsSet), len(r.FlagsCleared))
		if len(r.DataFixed) > 0 {
			fmt.Fprintf(w, "; d rebuilt on %d", len(r.DataFixed))
		}
		fmt.Fprintln(w)
	}
}
