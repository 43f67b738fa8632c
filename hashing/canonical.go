package hashing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on event data (docs/hashing.md).
const (
	MaxDepth         = 32        // the outermost object is level 1
	MaxCanonicalSize = 64 * 1024 // bytes of canonical JSON
)

// Canonical returns the canonical JSON (RFC 8785) of a value parsed by
// Parse or built in Go, after checking it against the data rules. It
// accepts Object, map[string]any, []any, string, bool, nil, int32, int64,
// int and float64. It does not require the outermost value to be an
// object; see CanonicalObject, and CanonicalBSON for stored data.
func Canonical(v any) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, 256), v)
}

// CanonicalObject is Canonical for event data, which must be an object.
func CanonicalObject(v any) ([]byte, error) {
	switch v.(type) {
	case Object, map[string]any:
	default:
		return nil, &DataError{Err: ErrNotObject, Offset: -1}
	}
	return Canonical(v)
}

// CanonicalBSON is the canonical JSON of a whole BSON document, as the
// store keeps event data, checked against the data rules like Canonical.
func CanonicalBSON(doc []byte) ([]byte, error) {
	e := encoder{buf: make([]byte, 0, len(doc)+len(doc)/4)}
	if err := e.rawDocument(doc, 1); err != nil {
		return nil, err
	}
	if len(e.buf) > MaxCanonicalSize {
		return nil, &DataError{Err: ErrTooLarge, Offset: -1, Detail: strconv.Itoa(len(e.buf))}
	}
	return e.buf, nil
}

// AppendCanonical appends the canonical JSON of v to dst, as Canonical.
func AppendCanonical(dst []byte, v any) ([]byte, error) {
	e := encoder{buf: dst}
	start := len(dst)
	if err := e.value(v, 1); err != nil {
		return dst, err
	}
	if len(e.buf)-start > MaxCanonicalSize {
		return dst, &DataError{Err: ErrTooLarge, Offset: -1, Detail: strconv.Itoa(len(e.buf) - start)}
	}
	return e.buf, nil
}

// encoder writes canonical JSON and remembers where it is for error messages.
type encoder struct {
	buf  []byte
	path []pathSegment
}

type pathSegment struct {
	key    string
	rawKey []byte // the key of a BSON element, converted only for messages
	index  int    // -1 for object members
}

func (e *encoder) fail(err error, detail string) error {
	return &DataError{Err: err, Path: pointer(e.path), Offset: -1, Detail: detail}
}

func pointer(path []pathSegment) string {
	var b strings.Builder
	for _, s := range path {
		b.WriteByte('/')
		if s.index >= 0 {
			b.WriteString(strconv.Itoa(s.index))
			continue
		}
		key := s.key
		if s.rawKey != nil {
			key = string(s.rawKey)
		}
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(key))
	}
	return b.String()
}

func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		if x {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case string:
		if !utf8.ValidString(x) {
			return e.fail(ErrInvalidUTF8, "")
		}
		e.buf = appendString(e.buf, x)
	case float64:
		var err error
		if e.buf, err = appendNumber(e.buf, x); err != nil {
			return e.fail(err, strconv.FormatFloat(x, 'g', -1, 64))
		}
	case int64:
		var err error
		if e.buf, err = appendInteger(e.buf, x); err != nil {
			return e.fail(err, strconv.FormatInt(x, 10))
		}
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int:
		var err error
		if e.buf, err = appendInteger(e.buf, int64(x)); err != nil {
			return e.fail(err, strconv.Itoa(x))
		}
	case Object:
		if depth > MaxDepth {
			return e.fail(ErrTooDeep, "")
		}
		return e.document(x, depth)
	case map[string]any:
		return e.mapObject(x, depth)
	case []any:
		return e.array(x, depth)
	default:
		return e.fail(ErrUnsupportedType, fmt.Sprintf("%T", v))
	}
	return nil
}

// document writes an Object; parsed data is already in canonical order, so
// it is only copied and sorted when it is not.
func (e *encoder) document(doc Object, depth int) error {
	sorted := true
	for i := 1; i < len(doc) && sorted; i++ {
		sorted = CompareNames(doc[i-1].Name, doc[i].Name) < 0
	}
	if !sorted {
		return e.object(slices.Clone(doc), depth)
	}
	e.buf = append(e.buf, '{')
	for i, m := range doc {
		if err := e.checkName(m.Name); err != nil {
			return err
		}
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, m.Name)
		e.buf = append(e.buf, ':')
		e.path = append(e.path, pathSegment{key: m.Name, index: -1})
		if err := e.value(m.Value, depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) mapObject(m map[string]any, depth int) error {
	if depth > MaxDepth {
		return e.fail(ErrTooDeep, "")
	}
	members := make([]Member, 0, len(m))
	for k, v := range m {
		members = append(members, Member{k, v})
	}
	return e.object(members, depth)
}

// object writes members sorted by the UTF-16 code units of their names.
func (e *encoder) object(members []Member, depth int) error {
	for _, m := range members {
		if err := e.checkName(m.Name); err != nil {
			return err
		}
	}
	if !slices.IsSortedFunc(members, compareMembers) {
		slices.SortFunc(members, compareMembers)
	}
	for i := 1; i < len(members); i++ {
		if members[i].Name == members[i-1].Name {
			return e.fail(ErrDuplicateMember, members[i].Name)
		}
	}
	e.buf = append(e.buf, '{')
	for i, m := range members {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendString(e.buf, m.Name)
		e.buf = append(e.buf, ':')
		e.path = append(e.path, pathSegment{key: m.Name, index: -1})
		if err := e.value(m.Value, depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, '}')
	return nil
}

func compareMembers(a, b Member) int { return CompareNames(a.Name, b.Name) }

func (e *encoder) checkName(name string) error {
	if err := checkMemberName(name); err != nil {
		return e.fail(err, name)
	}
	return nil
}

// checkMemberName applies the MongoDB field-name rules of the spec.
func checkMemberName[S string | []byte](name S) error {
	switch {
	case !utf8.ValidString(string(name)):
		return ErrInvalidUTF8
	case len(name) > 0 && name[0] == '$':
		return ErrMemberDollar
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '.':
			return ErrMemberDot
		case 0:
			return ErrMemberNUL
		}
	}
	return nil
}

func (e *encoder) array(items []any, depth int) error {
	if depth > MaxDepth {
		return e.fail(ErrTooDeep, "")
	}
	e.buf = append(e.buf, '[')
	for i, v := range items {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.path = append(e.path, pathSegment{index: i})
		if err := e.value(v, depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, ']')
	return nil
}

// CompareNames orders member names by their UTF-16 code units, as RFC 8785
// requires. UTF-8 byte order equals code point order, which differs from
// UTF-16 order only between a supplementary character (a surrogate pair,
// D800–DBFF first) and a BMP character in E000–FFFF.
func CompareNames(a, b string) int { return compareNames(a, b) }

func compareNames[S string | []byte](a, b S) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	if a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf {
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) { // back to the start of the differing rune
		i--
	}
	ra, _ := utf8.DecodeRuneInString(string(a[i:]))
	rb, _ := utf8.DecodeRuneInString(string(b[i:]))
	ua, ub := utf16First(ra), utf16First(rb)
	if ua != ub {
		return int(ua) - int(ub)
	}
	return int(ra) - int(rb)
}

// utf16First is the first UTF-16 code unit of r.
func utf16First(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}

const hexDigits = "0123456789abcdef"

// appendString writes s (valid UTF-8) as a JCS string literal.
func appendString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendString appends s as a JSON string literal in canonical (JCS) form.
// s must be valid UTF-8.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

// ValidateMemberName checks one member name against the MongoDB field-name
// rules of the spec (valid UTF-8, no leading '$', no '.', no NUL).
func ValidateMemberName(name string) error {
	if err := checkMemberName(name); err != nil {
		return &DataError{Err: err, Offset: -1, Detail: name}
	}
	return nil
}
