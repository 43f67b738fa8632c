package bsondata

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

// FromJSON parses JSON event data under the data rules and returns it as a
// BSON document, members in canonical order, with its canonical JSON.
// Refusals are the *hashing.DataError of hashing.ParseObject.
func FromJSON(raw []byte) (doc bson.Raw, canonical []byte, err error) {
	obj, canonical, err := hashing.ParseObject(raw)
	if err != nil {
		return nil, nil, err
	}
	doc, err = Marshal(obj)
	return doc, canonical, err
}

// Marshal writes an object (a hashing.Object or a map[string]any holding
// hashing's values) as a BSON document.
func Marshal(obj any) (bson.Raw, error) {
	return bson.Marshal(Value(obj))
}

// Value is v with hashing's containers made the driver's: Object becomes
// bson.D and []any bson.A, all the way down; other values are kept.
func Value(v any) any {
	switch x := v.(type) {
	case hashing.Object:
		d := make(bson.D, len(x))
		for i, m := range x {
			d[i] = bson.E{Key: m.Name, Value: Value(m.Value)}
		}
		return d
	case map[string]any:
		m := make(bson.M, len(x))
		for k, e := range x {
			m[k] = Value(e)
		}
		return m
	case []any:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = Value(e)
		}
		return a
	}
	return v
}

// Canonical is hashing.Canonical for values that may also hold the
// driver's bson.D, bson.M, bson.A and bson.Raw, as documents decoded from
// the database or built in Go code do.
func Canonical(v any) ([]byte, error) {
	if raw, ok := v.(bson.Raw); ok {
		return hashing.CanonicalBSON(raw)
	}
	return hashing.Canonical(Data(v))
}

// CanonicalObject is Canonical for event data, which must be an object.
func CanonicalObject(v any) ([]byte, error) {
	if raw, ok := v.(bson.Raw); ok {
		return hashing.CanonicalBSON(raw)
	}
	return hashing.CanonicalObject(Data(v))
}

// Data is Value backwards: a value decoded from BSON (bson.D, bson.A …)
// as hashing's values; a bson.Raw that does not decode stays as it is, for
// hashing to refuse. The two are each other's mirror, kept apart because
// each side's types are its own.
func Data(v any) any {
	switch x := v.(type) {
	case bson.D:
		obj := make(hashing.Object, len(x))
		for i, e := range x {
			obj[i] = hashing.Member{Name: e.Key, Value: Data(e.Value)}
		}
		return obj
	case bson.M:
		return Data(map[string]any(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = Data(e)
		}
		return m
	case bson.A:
		return Data([]any(x))
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = Data(e)
		}
		return a
	case bson.Raw:
		var d bson.D
		if err := bson.Unmarshal(x, &d); err != nil {
			return x // refused by hashing as an unsupported type
		}
		return Data(d)
	}
	return v
}
