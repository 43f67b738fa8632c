package store

import (
	"context"
	"runtime"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore"
)

// contextType audits every context of one type: by one scan of the
// collection in full mode, or context by context from their checkpoints.
func (a *audit) contextType(ctx context.Context, ct string) error {
	if a.opts.Incremental {
		cids, all, err := a.s.checkpointed(ctx, ct)
		if err != nil {
			return dbError("verify", err)
		}
		if all { // every context has a checkpoint: no scan needed
			for _, cid := range cids {
				if err := a.incremental(ctx, ct, cid); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return a.scan(ctx, ct, bson.D{})
}

// context audits one context.
func (a *audit) context(ctx context.Context, ct, cid string) error {
	if a.opts.Incremental {
		cp, err := a.s.checkpoint(ctx, ct, cid)
		if err != nil {
			return dbError("verify", err)
		}
		if cp != nil {
			return a.incremental(ctx, ct, cid)
		}
	}
	if err := a.scan(ctx, ct, bson.D{{Key: "cid", Value: cid}}); err != nil {
		return err
	}
	if len(a.rep.PerCtx) == 0 {
		return eventstore.Errorf(eventstore.ENOTFOUND, "context %s/%s does not exist", ct, cid)
	}
	return nil
}

// scanned is one document of a scan, read and checked by a worker.
type scanned struct {
	cid      string
	head     *head
	id       string
	node     *auditNode
	problems []Problem
	redacted bool
}

// scanBatch is how many documents travel between the scan's stages at once.
const scanBatch = 256

// scan reads the documents of <ct>_events that match filter (events and
// head versions) in one cursor, checks each event on all cores, builds each
// context's graph, and checks the graphs.
func (a *audit) scan(ctx context.Context, ct string, filter bson.D) error {
	coll := a.s.events(ct)
	var total int64 // for progress; FerretDB counts by reading every document, so it is not asked
	if !a.s.conn.ferret && a.opts.Progress != nil {
		n, err := coll.EstimatedDocumentCount(ctx)
		if err != nil {
			return dbError("verify", err)
		}
		total = n
	}
	g, gctx := errgroup.WithContext(ctx)
	raws := make(chan []bson.Raw, runtime.NumCPU())
	results := make(chan []scanned, runtime.NumCPU())
	g.Go(func() error { // the cursor
		defer close(raws)
		cur, err := coll.Find(gctx, filter)
		if err != nil {
			return err
		}
		defer cur.Close(gctx)
		batch := make([]bson.Raw, 0, scanBatch)
		for cur.Next(gctx) {
			batch = append(batch, append(bson.Raw(nil), cur.Current...))
			if len(batch) == scanBatch {
				select {
				case raws <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				batch = make([]bson.Raw, 0, scanBatch)
			}
		}
		if len(batch) > 0 {
			raws <- batch
		}
		return cur.Err()
	})
	var workers sync.WaitGroup
	for range runtime.NumCPU() {
		workers.Add(1)
		g.Go(func() error { // the checks
			defer workers.Done()
			for batch := range raws {
				out := make([]scanned, 0, len(batch))
				for _, raw := range batch {
					out = append(out, checkStored(ct, raw))
				}
				select {
				case results <- out:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(results)
	}()
	graphs := map[string]*contextGraph{}
	graph := func(cid string) *contextGraph {
		gr := graphs[cid]
		if gr == nil {
			gr = newGraph(ct, cid)
			graphs[cid] = gr
		}
		return gr
	}
	for out := range results { // the graphs, in this goroutine only
		var n int64
		for _, sc := range out {
			gr := graph(sc.cid)
			if sc.head != nil {
				if gr.head == nil || sc.head.Seq > gr.head.Seq {
					gr.head = sc.head
				}
				continue
			}
			n++
			gr.problems = append(gr.problems, sc.problems...)
			if sc.redacted {
				gr.redacted++
			}
			if sc.node != nil {
				if _, dup := gr.nodes[sc.id]; !dup {
					gr.nodes[sc.id] = sc.node
					if len(sc.node.pids) == 0 {
						gr.genesis = append(gr.genesis, sc.id)
					}
				}
			}
		}
		a.progress(n, total)
	}
	if err := g.Wait(); err != nil {
		return dbError("verify", err)
	}
	for _, gr := range graphs {
		var err error
		if gr.cp, err = a.s.checkpoint(ctx, ct, gr.cid); err != nil {
			return dbError("verify", err)
		}
		problems, leaves := gr.check()
		if err := a.finish(ctx, gr, problems, leaves, int64(len(gr.nodes)), "full"); err != nil {
			return err
		}
	}
	return nil
}

// finish records a context's result and, if it is clean, its checkpoint.
// Flag mismatches are confirmed first (audit_confirm.go).
func (a *audit) finish(ctx context.Context, gr *contextGraph, problems []Problem, leaves []string, events int64, mode string) error {
	problems, err := a.confirmFlags(ctx, gr, problems)
	if err != nil {
		return dbError("verify", err)
	}
	for _, p := range problems {
		a.problem(p)
	}
	a.rep.Contexts++
	a.rep.Redacted += gr.redacted
	a.rep.PerCtx = append(a.rep.PerCtx, ContextReport{Ct: gr.ct, Cid: gr.cid, Events: events, Redacted: gr.redacted,
		Leaves: len(leaves), Problems: len(problems), Checked: mode})
	if len(problems) == 0 && gr.head != nil {
		if err := a.s.saveCheckpoint(ctx, gr.ct, gr.cid, gr.head); err != nil {
			a.s.log.Warn("saving an audit checkpoint", "ct", gr.ct, "cid", gr.cid, "err", err)
		}
	}
	return nil
}

// checkStored decodes and checks one stored document: an event or a head
// version.
func checkStored(ct string, raw bson.Raw) scanned {
	if hv, err := raw.LookupErr("head"); err == nil {
		var d headDoc
		if err := bson.Unmarshal(raw, &d); err != nil || hv.Type != bson.TypeEmbeddedDocument {
			return scanned{cid: d.Cid, head: &head{}}
		}
		return scanned{cid: d.Cid, head: &d.Head}
	}
	var d eventDoc
	if err := bson.Unmarshal(raw, &d); err != nil {
		id, _ := raw.Lookup("_id").StringValueOK()
		cid, _ := raw.Lookup("cid").StringValueOK()
		return scanned{cid: cid, id: id, problems: []Problem{{Kind: ProblemInvalidEvent, Ct: ct, Cid: cid, Event: id,
			Detail: "the document does not decode as an event: " + err.Error()}}}
	}
	if strings.Contains(d.ID, "#") { // a head version without its head
		return scanned{cid: d.Cid, head: &head{}}
	}
	e := storedEvent(&d)
	problems, redacted := checkEvent(ct, d.Cid, e, d.ArraysEscaped)
	node := &auditNode{pids: d.Pids, ts: int64(d.TS), isLeaf: d.IsLeaf}
	if (d.T == eventstore.TypeUpdate || d.T == eventstore.TypeDelete) && e.O != nil {
		node.target = editTarget(d.O)
	}
	return scanned{cid: d.Cid, id: d.ID, node: node, problems: problems, redacted: redacted}
}

// editTarget is the target an edit event names, or "" if it names none.
func editTarget(o bson.Raw) string {
	target, ok := o.Lookup("target").StringValueOK()
	if !ok {
		return ""
	}
	return target
}
