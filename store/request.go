package store

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
)

// requestKind is what a request asks of its context's writer.
type requestKind int

const (
	kindCreate requestKind = iota
	kindAppend
	kindEdit
	kindShare
	kindIngest
)

// request is one caller's write, waiting in a writer's queue.
type request struct {
	kind      requestKind
	t         string
	o         bson.Raw
	canonical []byte // canonical JSON of o
	clid      string
	expected  []string // expected parents, sorted; nil: any
	target    string   // edits
	remote    []*eventstore.Event
	// Of an ingest: the server the events came from, and the events
	// that an event.delete of the same call names (ingest.go: proof).
	from    string
	proofed map[string]bool

	// results
	done    bool
	event   *eventstore.Event
	existed bool
	ingest  []IngestResult
	err     error
}
