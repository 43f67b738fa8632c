package api

import (
	"context"
	"encoding/json"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/store"
)

// Store is what the handlers (REST and gateway) read and write through;
// *store.Store is one, and a test can give a fake.
type Store interface {
	// CreateContext writes a context's genesis event of type t.
	CreateContext(ctx context.Context, ct, cid, t string, o json.RawMessage) (*eventstore.Event, error)
	// Append writes one event; existed is true when its clid was already
	// stored (the event returned is that one).
	Append(ctx context.Context, ct, cid string, in store.NewEvent) (e *eventstore.Event, existed bool, err error)
	// Update and Delete write an edit event against event target.
	Update(ctx context.Context, ct, cid, target string, ed edits.Edit) (*eventstore.Event, error)
	Delete(ctx context.Context, ct, cid, target string) (*eventstore.Event, error)
	Get(ctx context.Context, ct, cid, id string) (*eventstore.Event, error)
	// List reads a page of a context's timeline.
	List(ctx context.Context, ct, cid string, q store.ListQuery) (*store.Page, error)
	// Summary describes a context: its leaves too (GET …/leaves).
	Summary(ctx context.Context, ct, cid string) (*store.Summary, error)
}
