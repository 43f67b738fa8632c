package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/store"
)

// The real store is an api.Store (cmd/eventstore passes one).
var _ api.Store = (*store.Store)(nil)

// fakeStore is an api.Store without a database: it keeps the events it
// is given in a map, answers Append with appendErr when that is set, and
// records every call, so that a test sees what a handler asked for.
// Methods no test needs fail with EINTERNAL.
type fakeStore struct {
	mu        sync.Mutex
	events    map[string]*eventstore.Event // by ct/cid/id
	appendErr error                        // Append's answer, when set
	calls     []string                     // "Method ct/cid[/id]", in order
	appended  []store.NewEvent             // what Append was given
}

func newFakeStore(events ...*eventstore.Event) *fakeStore {
	f := &fakeStore{events: map[string]*eventstore.Event{}}
	for _, e := range events {
		f.events[e.Ct+"/"+e.Cid+"/"+e.ID] = e
	}
	return f
}

func (f *fakeStore) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// Calls returns the calls made so far.
func (f *fakeStore) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Append stores an event with id "e<n>" (n counts the events), or returns
// the stored one, existed, when in.Clid was used in the context.
func (f *fakeStore) Append(ctx context.Context, ct, cid string, in store.NewEvent) (*eventstore.Event, bool, error) {
	f.record("Append " + ct + "/" + cid)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appended = append(f.appended, in)
	if f.appendErr != nil {
		return nil, false, f.appendErr
	}
	for _, e := range f.events {
		if in.Clid != "" && e.Ct == ct && e.Cid == cid && e.Clid == in.Clid {
			return e, true, nil
		}
	}
	e := &eventstore.Event{ID: fmt.Sprintf("e%d", len(f.events)+1), Clid: in.Clid, Pids: in.ExpectedPids,
		V: eventstore.SchemaVersion, TS: 1700000000000, Src: "a.example", Ct: ct, Cid: cid, T: in.T, O: in.O, IsLeaf: true}
	if e.O == nil {
		e.O = json.RawMessage("{}")
	}
	f.events[ct+"/"+cid+"/"+e.ID] = e
	return e, false, nil
}

// Get answers ENOTFOUND, as the store does, for an event it does not have.
func (f *fakeStore) Get(ctx context.Context, ct, cid, id string) (*eventstore.Event, error) {
	f.record("Get " + ct + "/" + cid + "/" + id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.events[ct+"/"+cid+"/"+id]; ok {
		return e, nil
	}
	return nil, eventstore.Errorf(eventstore.ENOTFOUND, "no event %s in %s/%s", id, ct, cid)
}

func (f *fakeStore) unfaked(method, ct, cid string) error {
	f.record(method + " " + ct + "/" + cid)
	return eventstore.Errorf(eventstore.EINTERNAL, "fakeStore: %s is not faked", method)
}

func (f *fakeStore) CreateContext(ctx context.Context, ct, cid, t string, o json.RawMessage) (*eventstore.Event, error) {
	return nil, f.unfaked("CreateContext", ct, cid)
}

func (f *fakeStore) Update(ctx context.Context, ct, cid, target string, ed edits.Edit) (*eventstore.Event, error) {
	return nil, f.unfaked("Update", ct, cid)
}

func (f *fakeStore) Delete(ctx context.Context, ct, cid, target string) (*eventstore.Event, error) {
	return nil, f.unfaked("Delete", ct, cid)
}

func (f *fakeStore) List(ctx context.Context, ct, cid string, q store.ListQuery) (*store.Page, error) {
	return nil, f.unfaked("List", ct, cid)
}

func (f *fakeStore) Summary(ctx context.Context, ct, cid string) (*store.Summary, error) {
	return nil, f.unfaked("Summary", ct, cid)
}
