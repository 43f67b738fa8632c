package federation

import (
	"sync"
)

// pendingIndex is what this process knows of the pending events: which
// there are, by origin and by room. The caps (checkPendingCaps) and the
// retry of one room read it instead of the collection with a filter,
// which FerretDB answers by reading every pending event; the collection is
// then read by _id only, and whole only where every event is wanted.
//
// It is read whole once, on first use (the first commit or pending event
// after start). From then on it follows this process's own writes
// exactly, and it is set to what the collection holds whenever the
// periodic retry reads every pending event anyway (each
// retryPendingEvery). What other processes sharing the database keep or
// drop shows from then: with several processes a cap may be passed by what
// the others kept within one period, as a count and the insert after it
// never were one step either.
type pendingIndex struct {
	reload sync.Mutex // one load at a time

	mu       sync.Mutex
	loaded   bool
	events   map[string]pendingKey       // by event id
	byOrigin map[string]int              // how many events each origin has pending
	byRoom   map[roomKey]map[string]bool // the ids pending in each room
	// changed, during a load, records this process's writes (nil: removed),
	// to apply them again over what the load read.
	changed map[string]*pendingKey
}

type roomKey struct{ ct, cid string }

// pendingKey is what the index knows of a pending event.
type pendingKey struct {
	origin string
	room   roomKey
}

func keyOf(d *pendingDoc) *pendingKey {
	return &pendingKey{origin: d.Origin, room: roomKey{d.Ct, d.Cid}}
}

func newPendingIndex() *pendingIndex {
	p := &pendingIndex{}
	p.clear()
	return p
}

func (p *pendingIndex) clear() {
	p.events, p.byOrigin, p.byRoom = map[string]pendingKey{}, map[string]int{}, map[roomKey]map[string]bool{}
}

// load sets the index to the pending events read returns, all there are,
// keeping the writes this process made meanwhile. With once, it does so
// only if the index was never loaded.
func (p *pendingIndex) load(once bool, read func() ([]pendingDoc, error)) ([]pendingDoc, error) {
	if once && p.isLoaded() {
		return nil, nil // without waiting for a load under way
	}
	p.reload.Lock()
	defer p.reload.Unlock()
	p.mu.Lock()
	if once && p.loaded {
		p.mu.Unlock()
		return nil, nil
	}
	p.changed = map[string]*pendingKey{}
	p.mu.Unlock()
	docs, err := read()
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.changed
	p.changed = nil
	if err != nil {
		return nil, err
	}
	p.clear()
	for i := range docs {
		p.set(docs[i].ID, keyOf(&docs[i]))
	}
	for id, k := range changed {
		p.set(id, k)
	}
	p.loaded = true
	return docs, nil
}

func (p *pendingIndex) isLoaded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loaded
}

// add records that this process keeps event id pending.
func (p *pendingIndex) add(id string, k pendingKey) { p.write(id, &k) }

// remove records that event id is pending no more.
func (p *pendingIndex) remove(id string) { p.write(id, nil) }

func (p *pendingIndex) write(id string, k *pendingKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(id, k)
	if p.changed != nil {
		p.changed[id] = k
	}
}

// set puts event id in the index under k, or takes it out (k nil).
func (p *pendingIndex) set(id string, k *pendingKey) {
	if old, ok := p.events[id]; ok {
		delete(p.events, id)
		if p.byOrigin[old.origin]--; p.byOrigin[old.origin] == 0 {
			delete(p.byOrigin, old.origin)
		}
		if delete(p.byRoom[old.room], id); len(p.byRoom[old.room]) == 0 {
			delete(p.byRoom, old.room)
		}
	}
	if k == nil {
		return
	}
	p.events[id] = *k
	p.byOrigin[k.origin]++
	if p.byRoom[k.room] == nil {
		p.byRoom[k.room] = map[string]bool{}
	}
	p.byRoom[k.room][id] = true
}

// counts says how many events origin has pending, and room.
func (p *pendingIndex) counts(origin string, room roomKey) (ofOrigin, inRoom int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byOrigin[origin], len(p.byRoom[room])
}

// inRoom lists the ids of the events pending in room.
func (p *pendingIndex) inRoom(room roomKey) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.byRoom[room]))
	for id := range p.byRoom[room] {
		ids = append(ids, id)
	}
	return ids
}

// size is how many events the index has pending.
func (p *pendingIndex) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}
