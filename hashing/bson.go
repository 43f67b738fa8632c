package hashing

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// This file canonicalizes BSON bytes directly. The driver's bson.Raw API
// allocates a string per key and a slice per document; the audit reads every
// event as raw BSON, so walking the bytes here keeps it near the speed of a
// plain cursor scan. Only the types event data may hold are understood.

// BSON element types allowed in event data.
const (
	bsonDouble   = 0x01
	bsonString   = 0x02
	bsonDocument = 0x03
	bsonArray    = 0x04
	bsonBool     = 0x08
	bsonNull     = 0x0A
	bsonInt32    = 0x10
	bsonInt64    = 0x12
)

// rawMember is one element of a BSON document: its key and its value bytes.
type rawMember struct {
	key   []byte
	typ   byte
	value []byte
}

func (e *encoder) malformed() error { return e.fail(ErrUnsupportedType, "malformed BSON") }

// rawElements splits a BSON document (or array) into its elements.
func (e *encoder) rawElements(doc []byte, into []rawMember) ([]rawMember, error) {
	if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) || doc[len(doc)-1] != 0 {
		return nil, e.malformed()
	}
	pos, end := 4, len(doc)-1
	for pos < end {
		typ := doc[pos]
		pos++
		keyEnd := pos
		for keyEnd < end && doc[keyEnd] != 0 {
			keyEnd++
		}
		if keyEnd >= end {
			return nil, e.malformed()
		}
		key := doc[pos:keyEnd]
		pos = keyEnd + 1
		size, err := e.rawValueSize(typ, doc[pos:end])
		if err != nil {
			return nil, err
		}
		into = append(into, rawMember{key: key, typ: typ, value: doc[pos : pos+size]})
		pos += size
	}
	return into, nil
}

// rawValueSize is the number of bytes the value of type typ takes in b.
func (e *encoder) rawValueSize(typ byte, b []byte) (int, error) {
	need := 0
	switch typ {
	case bsonDouble, bsonInt64:
		need = 8
	case bsonInt32:
		need = 4
	case bsonBool:
		need = 1
	case bsonNull:
		need = 0
	case bsonString, bsonDocument, bsonArray:
		if len(b) < 4 {
			return 0, e.malformed()
		}
		n := int(int32(binary.LittleEndian.Uint32(b)))
		if typ == bsonString {
			n += 4
		}
		if n < 5 || n > len(b) {
			return 0, e.malformed()
		}
		need = n
	default:
		return 0, e.fail(ErrUnsupportedType, "BSON type 0x"+strconv.FormatUint(uint64(typ), 16))
	}
	if need > len(b) {
		return 0, e.malformed()
	}
	return need, nil
}

func (e *encoder) rawDocument(doc []byte, depth int) error {
	if depth > MaxDepth {
		return e.fail(ErrTooDeep, "")
	}
	var stack [16]rawMember
	members, err := e.rawElements(doc, stack[:0])
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := checkMemberName(m.key); err != nil {
			return e.fail(err, string(m.key))
		}
	}
	cmp := func(a, b rawMember) int { return compareNames(a.key, b.key) }
	if !slices.IsSortedFunc(members, cmp) {
		slices.SortFunc(members, cmp)
	}
	e.buf = append(e.buf, '{')
	for i, m := range members {
		if i > 0 {
			if string(m.key) == string(members[i-1].key) {
				return e.fail(ErrDuplicateMember, string(m.key))
			}
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, m.key)
		e.buf = append(e.buf, ':')
		e.path = append(e.path, pathSegment{rawKey: m.key, index: -1})
		if err := e.rawValue(m.typ, m.value, depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) rawArray(arr []byte, depth int) error {
	if depth > MaxDepth {
		return e.fail(ErrTooDeep, "")
	}
	var stack [16]rawMember
	items, err := e.rawElements(arr, stack[:0])
	if err != nil {
		return err
	}
	e.buf = append(e.buf, '[')
	for i, it := range items {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.path = append(e.path, pathSegment{index: i})
		if err := e.rawValue(it.typ, it.value, depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *encoder) rawValue(typ byte, v []byte, depth int) error {
	var err error
	switch typ {
	case bsonDouble:
		f := math.Float64frombits(binary.LittleEndian.Uint64(v))
		if e.buf, err = appendNumber(e.buf, f); err != nil {
			return e.fail(err, strconv.FormatFloat(f, 'g', -1, 64))
		}
	case bsonString:
		s := v[4 : len(v)-1]
		if v[len(v)-1] != 0 {
			return e.malformed()
		}
		if !utf8.Valid(s) {
			return e.fail(ErrInvalidUTF8, "")
		}
		e.buf = appendString(e.buf, s)
	case bsonDocument:
		return e.rawDocument(v, depth)
	case bsonArray:
		return e.rawArray(v, depth)
	case bsonBool:
		switch v[0] {
		case 0:
			e.buf = append(e.buf, "false"...)
		case 1:
			e.buf = append(e.buf, "true"...)
		default:
			return e.malformed()
		}
	case bsonNull:
		e.buf = append(e.buf, "null"...)
	case bsonInt32:
		e.buf = strconv.AppendInt(e.buf, int64(int32(binary.LittleEndian.Uint32(v))), 10)
	case bsonInt64:
		n := int64(binary.LittleEndian.Uint64(v))
		if e.buf, err = appendInteger(e.buf, n); err != nil {
			return e.fail(err, strconv.FormatInt(n, 10))
		}
	}
	return nil
}
