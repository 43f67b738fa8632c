package federation

import (
	"context"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// Store is what the federation reads and writes contexts through;
// *store.Store is one.
type Store interface {
	// Summary returns a context's leaves, participants and head version,
	// or ENOTFOUND.
	Summary(ctx context.Context, ct, cid string) (*store.Summary, error)
	// Get returns one event of a context, or ENOTFOUND.
	Get(ctx context.Context, ct, cid, id string) (*eventstore.Event, error)
	// Has reports which of ids a context holds.
	Has(ctx context.Context, ct, cid string, ids []string) (map[string]bool, error)

	// Share appends a server.join event naming server (sharing).
	Share(ctx context.Context, ct, cid, server string) (*eventstore.Event, error)
	// JoinEvent returns the server.join event that made server a
	// participant, or ENOTFOUND: the invitation a sender delivers.
	JoinEvent(ctx context.Context, ct, cid, server string) (*eventstore.Event, error)

	// Changes returns the events of the head versions after after (with
	// local, only this server's), at most max, and the last version read:
	// what a sender pushes.
	Changes(ctx context.Context, ct, cid string, after int64, max int, local bool) ([]*eventstore.Event, int64, error)
	// VersionTime is when head version seq was written (a sender's lag).
	VersionTime(ctx context.Context, ct, cid string, seq int64) (time.Time, error)

	// IngestFrom stores events received from server from, one result each.
	IngestFrom(ctx context.Context, from string, events []*eventstore.Event) ([]store.IngestResult, error)

	// History calls fn with every event of a context, parents first: what
	// a new participant pulls.
	History(ctx context.Context, ct, cid string, fn func(*eventstore.Event) error) error
	// Missing walks back from want over parents, stopping at have, and
	// returns at most limit events, parents first: what a peer asks for.
	Missing(ctx context.Context, ct, cid string, want, have []string, limit int) ([]*eventstore.Event, error)
}
