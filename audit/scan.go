package audit

import (
	"context"
	"runtime"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/sync/errgroup"

	"github.com/eventstore-go/eventstore/store"
)

// scanned is one document of a scan, decoded and checked by a worker.
type scanned struct {
	store.Record
	checked
}

// readGraphs reads the documents of type ct (or of context cid) in one
// cursor, decodes and checks each event on all cores, and builds each
// context's graph with its latest head. With timeline, context cid is read
// along its head log instead (Source.ScanContexts with timeline: O(the
// context), where a scan reads the whole collection on the embedded
// store). progress, if not nil, is told how many events each batch held.
func (a *Auditor) readGraphs(ctx context.Context, ct, cid string, timeline bool, progress func(n, total int64)) (map[string]*graph, error) {
	var total int64
	if progress != nil {
		var err error
		if total, err = a.src.EstimatedDocuments(ctx, ct); err != nil {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	raws := make(chan []bson.Raw, runtime.NumCPU())
	results := make(chan []scanned, runtime.NumCPU())
	g.Go(func() error { // the cursor
		defer close(raws)
		hand := func(batch []bson.Raw) error {
			select {
			case raws <- batch:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return a.src.ScanContexts(gctx, ct, cid, timeline, hand)
	})
	var workers sync.WaitGroup
	for range runtime.NumCPU() {
		workers.Add(1)
		g.Go(func() error { // the checks
			defer workers.Done()
			for batch := range raws {
				out := make([]scanned, 0, len(batch))
				for _, raw := range batch {
					out = append(out, checkRecord(ct, store.DecodeRecord(raw), a.sigs))
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
	graphs := map[string]*graph{}
	for out := range results { // the graphs, in this goroutine only
		var n int64
		for _, sc := range out {
			if sc.LogEntry || sc.Span || sc.ClidRecord {
				continue
			}
			gr := graphs[sc.Cid]
			if gr == nil {
				gr = newGraph(ct, sc.Cid)
				graphs[sc.Cid] = gr
			}
			if sc.Head != nil {
				if gr.head == nil || sc.Head.Seq > gr.head.Seq {
					gr.head = sc.Head
				}
				continue
			}
			n++
			gr.problems = append(gr.problems, sc.problems...)
			if sc.Event != nil {
				gr.addChecked(sc.Event, sc.checked)
			}
		}
		if progress != nil {
			progress(n, total)
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return graphs, nil
}

// checkRecord checks one decoded document (an event; a head version needs
// nothing).
func checkRecord(ct string, rec store.Record, sigs Signatures) scanned {
	sc := scanned{Record: rec}
	switch {
	case rec.Err != nil:
		sc.problems = []Problem{{Kind: ProblemInvalidEvent, Ct: ct, Cid: rec.Cid, Event: rec.ID,
			Detail: "the document does not decode as an event: " + rec.Err.Error()}}
	case rec.Event != nil:
		sc.checked = checkEvent(ct, rec.Cid, rec.Event, sigs)
	}
	return sc
}
