package store

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// FerretDB v1 refuses documents with an array directly inside an array,
// which event data may hold (the spec's own vectors do). On FerretDB such
// data is stored escaped, and the event document is marked
// (arraysEscaped: true); a real MongoDB stores it as it is. In escaped
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

func escapeData(v any) any { return mapArrayItems(v, escapeElement) }

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

func escapeElement(item any) any {
	switch it := item.(type) {
	case bson.A:
		return bson.D{{Key: escapeKey, Value: escapeArray}, {Key: escapeValue, Value: escapeData(it)}}
	case bson.D:
		for _, e := range it {
			if e.Key == escapeKey {
				return bson.D{{Key: escapeKey, Value: escapeObject}, {Key: escapeValue, Value: escapeData(it)}}
			}
		}
	}
	return escapeData(item)
}

func unescapeData(v any) any { return mapArrayItems(v, unescapeElement) }

func unescapeElement(item any) any {
	if d, ok := item.(bson.D); ok && len(d) == 2 && d[0].Key == escapeKey && d[1].Key == escapeValue {
		switch d[0].Value {
		case escapeArray, escapeObject:
			return unescapeData(d[1].Value)
		}
	}
	return unescapeData(item)
}

// storable returns data as it must be stored on this backend, and whether
// that is the escaped form.
func (s *Store) storable(data bson.Raw) (bson.Raw, bool, error) {
	if data == nil || !s.conn.dialect.escapesNestedArrays() {
		return data, false, nil
	}
	d, err := decodeRaw(data)
	if err != nil || !needsEscape(d) {
		return data, false, err
	}
	raw, err := bson.Marshal(escapeData(d))
	return raw, true, err
}

// unescapeRaw turns escaped stored data back into the data.
func unescapeRaw(data bson.Raw) (bson.Raw, error) {
	if data == nil {
		return nil, nil
	}
	d, err := decodeRaw(data)
	if err != nil {
		return nil, err
	}
	return bson.Marshal(unescapeData(d))
}

func decodeRaw(data bson.Raw) (bson.D, error) {
	var d bson.D
	err := bson.Unmarshal(data, &d)
	return d, err
}
