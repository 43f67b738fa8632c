package edits

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

// Event is an event.update or event.delete as the fold reads it.
type Event struct {
	ID   string
	TS   int64
	T    string
	Edit Edit // of an update
}

// Compare orders edit events as the fold applies them: by (ts, id).
func Compare(a, b Event) int {
	return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.ID, b.ID))
}

// Sort puts events in fold order (Compare) without repeats of an id, in
// place, and returns the shortened slice.
func Sort(events []Event) []Event {
	slices.SortFunc(events, Compare)
	return slices.CompactFunc(events, func(a, b Event) bool { return a.ID == b.ID })
}

// DeletedAt is the ts of the earliest delete among events; false if none
// is a delete.
func DeletedAt(events []Event) (int64, bool) {
	var at int64
	found := false
	for _, e := range events {
		if e.T == eventstore.TypeDelete && (!found || e.TS < at) {
			at, found = e.TS, true
		}
	}
	return at, found
}

// ApplyUpdates applies the updates among events to d in the order given
// (fold order: Sort them first), skipping any that does not apply.
func ApplyUpdates(d hashing.Object, events []Event) hashing.Object {
	for _, e := range events {
		if e.T != eventstore.TypeUpdate {
			continue
		}
		if next, err := e.Edit.Apply(d); err == nil {
			d = next
		}
	}
	return d
}

// Folded is what an event's data is once its edit events are applied.
type Folded struct {
	D         json.RawMessage // the current data, canonical; nil when deleted
	Deleted   bool
	DeletedAt int64 // the earliest delete's ts
}

// Fold is what data o becomes given all the edit events that name it, in
// any order: deleted at the earliest delete's ts if any is a delete, else
// o with the updates applied in (ts, id) order, each skipped if it does
// not apply. The store writes it and the audit checks stored d against it.
func Fold(o json.RawMessage, events []Event) (Folded, error) {
	events = Sort(slices.Clone(events))
	if at, ok := DeletedAt(events); ok {
		return Folded{Deleted: true, DeletedAt: at}, nil
	}
	d, err := DecodeData(o)
	if err != nil {
		return Folded{}, err
	}
	js, err := hashing.CanonicalObject(ApplyUpdates(d, events))
	if err != nil {
		return Folded{}, err
	}
	return Folded{D: js}, nil
}
