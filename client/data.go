package client

import (
	"encoding/json"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

// DecodeData decodes event data, an event's O or D, into v as
// encoding/json decodes the data's JSON (numbers in an any become
// float64). Nil data, as of a deleted event, leaves v as it is.
func DecodeData(data []byte, v any) error {
	if data == nil {
		return nil
	}
	// The field gives data the BSON document type that hashing reads,
	// without this package importing the BSON library.
	doc := eventstore.Event{O: data}.O
	js, err := hashing.CanonicalObject(doc)
	if err != nil {
		return eventstore.WrapError(eventstore.EINVALIDDATA, err)
	}
	return json.Unmarshal(js, v)
}
