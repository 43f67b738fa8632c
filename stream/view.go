package stream

import (
	"sync"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// view is what every subscriber of a commit sends of it, made once per
// commit rather than once per subscriber: with a thousand subscribers on a
// room, encoding cursors and events for each was most of the fan-out's
// cost.
type view struct {
	once    sync.Once
	commit  *store.Commit
	events  []*eventstore.Event // as streams send them
	data    [][]byte            // their JSON
	cursors []string            // their cursors in the context's stream

	mu     sync.Mutex
	shared map[sharedKey][]byte // Message.Shared's encodings
}

type sharedKey struct {
	index       int
	key, cursor string
}

func newView(c *store.Commit) *view { return &view{commit: c} }

// get makes the view (once) and returns it.
func (v *view) get(cur *Cursors) *view {
	v.once.Do(func() {
		c := v.commit
		v.events = make([]*eventstore.Event, len(c.Events))
		v.data = make([][]byte, len(c.Events))
		v.cursors = make([]string, len(c.Events))
		for i, e := range c.Events {
			v.events[i] = streamEvent(e)
			v.data[i], _ = v.events[i].MarshalJSON() // nil on error: the sender encodes it itself
			v.cursors[i] = cur.EncodeCursor(c.Ct, c.Cid, c.Cursor(i))
		}
	})
	return v
}

// Shared is build(m), made once for every stream that sends m under the
// same key: a live event goes alike to every subscriber of its commit (its
// cursor is part of the key too), so a transport encodes its frame once
// rather than once per connection. Other messages are built each time.
func (m Message) Shared(key string, build func(Message) ([]byte, error)) ([]byte, error) {
	v := m.view
	if v == nil {
		return build(m)
	}
	k := sharedKey{index: m.index, key: key, cursor: m.Cursor}
	v.mu.Lock()
	defer v.mu.Unlock() // the others wait for the first to build it, rather than build it too
	if b, ok := v.shared[k]; ok {
		return b, nil
	}
	b, err := build(m)
	if err != nil {
		return nil, err
	}
	if v.shared == nil {
		v.shared = map[sharedKey][]byte{}
	}
	v.shared[k] = b
	return b, nil
}
