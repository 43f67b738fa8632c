package store

import (
	"encoding/json"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
)

// Event data crosses here between its two forms: an eventstore.Event
// carries o and d as canonical JSON, as clients and peers see them; the
// store keeps them as BSON documents, so that MongoDB can update d by path.

// storedData is JSON data as the store keeps it, with its canonical form.
// The error, for data outside the data rules, is hashing's.
func storedData(js json.RawMessage) (bson.Raw, json.RawMessage, error) {
	if js == nil {
		return nil, nil, nil
	}
	doc, canonical, err := bsondata.FromJSON(js)
	if err != nil {
		return nil, nil, err
	}
	return doc, canonical, nil
}

// storedObject is data parsed by hashing (or folded by edits) as the store
// writes it into a document.
func storedObject(obj hashing.Object) bson.D {
	return bsondata.Value(obj).(bson.D)
}

// eventData is stored data as an event carries it.
func eventData(doc bson.Raw) (json.RawMessage, error) {
	if doc == nil {
		return nil, nil
	}
	return hashing.CanonicalBSON(doc)
}
