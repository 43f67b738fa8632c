package database

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// FerretDB v1 refuses documents with an array directly inside an array,
// which event data may hold (the spec's own vectors do). On FerretDB such
// data is stored escaped, and the caller marks the document
// (the store: arraysEscaped: true); a real MongoDB stores it as it is. In escaped
// data, each element of an array that is
//   - an array becomes {"": "array", "v": [elements…]},
//   - an object with a "" member becomes {"": "object", "v": {members…}},
// so that no array is directly inside another and no escaped element can
// be mistaken for data (data with "" members inside arrays is escaped
// too). Data without either is its own escaped form, so marking an event
// later (when an edit first puts such data in d) leaves o valid.

const (
	escapeKey    = ""
	escapeArray  = "array"
	escapeObject = "object"
	escapeValue  = "v"
)

// needsEscape reports whether data must be escaped to be stored on FerretDB.
func needsEscape(v any) bool {
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if needsEscape(e.Value) {
				return true
			}
		}
	case bson.A:
		for _, item := range x {
			switch it := item.(type) {
			case bson.A:
				return true
			case bson.D:
				for _, e := range it {
					if e.Key == escapeKey {
						return true
					}
				}
			}
			if needsEscape(item) {
				return true
			}
		}
	}
	return false
}

// EscapeData is v in its escaped form.
func EscapeData(v any) any { return mapArrayItems(v, EscapeElement) }

// mapArrayItems copies v with every array item, at any depth, replaced by
// item(it); item recurses itself into what it returns.
func mapArrayItems(v any, item func(any) any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: mapArrayItems(e.Value, item)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, it := range x {
			out[i] = item(it)
		}
		return out
	}
	return v
}

// EscapeElement is item, an array element or a value set into data, in
// its escaped form.
func EscapeElement(item any) any {
	switch it := item.(type) {
	case bson.A:
		return bson.D{{Key: escapeKey, Value: escapeArray}, {Key: escapeValue, Value: EscapeData(it)}}
	case bson.D:
		for _, e := range it {
			if e.Key == escapeKey {
				return bson.D{{Key: escapeKey, Value: escapeObject}, {Key: escapeValue, Value: EscapeData(it)}}
			}
		}
	}
	return EscapeData(item)
}

// UnescapeData is escaped data v as it was.
func UnescapeData(v any) any { return mapArrayItems(v, UnescapeElement) }

// UnescapeElement is escaped item as it was.
func UnescapeElement(item any) any {
	if d, ok := item.(bson.D); ok && len(d) == 2 && d[0].Key == escapeKey && d[1].Key == escapeValue {
		switch d[0].Value {
		case escapeArray, escapeObject:
			return UnescapeData(d[1].Value)
		}
	}
	return UnescapeData(item)
}

// MustEscape reports whether data v must be stored escaped here.
func (c *Conn) MustEscape(v any) bool { return c.backend.EscapesNestedArrays() && needsEscape(v) }

// Storable returns data as it must be stored on this backend, and whether
// that is the escaped form.
func (c *Conn) Storable(data bson.Raw) (bson.Raw, bool, error) {
	if data == nil || !c.backend.EscapesNestedArrays() {
		return data, false, nil
	}
	d, err := decodeRaw(data)
	if err != nil || !needsEscape(d) {
		return data, false, err
	}
	raw, err := bson.Marshal(EscapeData(d))
	return raw, true, err
}

// UnescapeRaw turns escaped stored data back into the data.
func UnescapeRaw(data bson.Raw) (bson.Raw, error) {
	if data == nil {
		return nil, nil
	}
	d, err := decodeRaw(data)
	if err != nil {
		return nil, err
	}
	return bson.Marshal(UnescapeData(d))
}

func decodeRaw(data bson.Raw) (bson.D, error) {
	var d bson.D
	err := bson.Unmarshal(data, &d)
	return d, err
}
