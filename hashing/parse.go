package hashing

import (
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Object is a JSON object as Parse returns it: its members in canonical
// order (by the UTF-16 code units of their names).
type Object []Member

// Member is one member of an Object.
type Member struct {
	Name  string
	Value any
}

// ParseObject parses raw JSON event data, checks it against every data rule
// of the spec and returns it as an Object (integers as int64, other numbers
// as float64) together with its canonical JSON. Refusals are *DataError
// values wrapping one of the Err… variables.
func ParseObject(raw []byte) (Object, []byte, error) {
	v, err := Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	doc, ok := v.(Object)
	if !ok {
		return nil, nil, &DataError{Err: ErrNotObject, Offset: -1}
	}
	canonical, err := Canonical(doc)
	if err != nil {
		return nil, nil, err
	}
	return doc, canonical, nil
}

// CanonicalJSON is the canonical form of raw JSON data of any type, checked
// against the data rules.
func CanonicalJSON(raw []byte) ([]byte, error) {
	v, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return Canonical(v)
}

// Parse parses one JSON value strictly (RFC 8259) and applies the data rules
// that concern the text: UTF-8, surrogates, duplicate members, integer range,
// member names and depth. Objects become Object, arrays []any, strings
// string, true and false bool, null nil, integers int64 and other numbers
// float64.
func Parse(raw []byte) (any, error) {
	p := parser{src: raw}
	p.skipSpace()
	v, err := p.value(1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.fail(ErrSyntax, "data after the value")
	}
	return v, nil
}

type parser struct {
	src  []byte
	pos  int
	path []pathSegment
}

func (p *parser) fail(err error, detail string) error {
	return &DataError{Err: err, Path: pointer(p.path), Offset: p.pos, Detail: detail}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.pos >= len(p.src) {
		return nil, p.fail(ErrSyntax, "unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		return true, nil
	case p.literal("false"):
		return false, nil
	case p.literal("null"):
		return nil, nil
	}
	return nil, p.fail(ErrSyntax, "unexpected character "+strconv.QuoteRune(rune(p.src[p.pos])))
}

func (p *parser) literal(word string) bool {
	if len(p.src)-p.pos >= len(word) && string(p.src[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) object(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, p.fail(ErrTooDeep, "")
	}
	p.pos++ // {
	doc := Object{}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return doc, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.fail(ErrSyntax, "expected a member name")
		}
		namePos := p.pos
		name, err := p.string()
		if err != nil {
			return nil, err
		}
		if err := checkMemberName(name); err != nil {
			p.pos = namePos
			return nil, p.fail(err, name)
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.fail(ErrSyntax, "expected ':'")
		}
		p.pos++
		p.skipSpace()
		p.path = append(p.path, pathSegment{key: name, index: -1})
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		doc = append(doc, Member{Name: name, Value: v})
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.fail(ErrSyntax, "unexpected end of input in object")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] != '}' {
			return nil, p.fail(ErrSyntax, "expected ',' or '}'")
		}
		p.pos++
		break
	}
	cmp := func(a, b Member) int { return CompareNames(a.Name, b.Name) }
	if !slices.IsSortedFunc(doc, cmp) {
		slices.SortStableFunc(doc, cmp)
	}
	for i := 1; i < len(doc); i++ {
		if doc[i].Name == doc[i-1].Name {
			return nil, &DataError{Err: ErrDuplicateMember, Path: pointer(p.path), Offset: -1, Detail: doc[i].Name}
		}
	}
	return doc, nil
}

func (p *parser) array(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, p.fail(ErrTooDeep, "")
	}
	p.pos++ // [
	arr := []any{}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		p.skipSpace()
		p.path = append(p.path, pathSegment{index: len(arr)})
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		arr = append(arr, v)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.fail(ErrSyntax, "unexpected end of input in array")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] != ']' {
			return nil, p.fail(ErrSyntax, "expected ',' or ']'")
		}
		p.pos++
		return arr, nil
	}
}

// string parses a string literal starting at the opening quote.
func (p *parser) string() (string, error) {
	start := p.pos
	p.pos++ // "
	// Fast path: printable ASCII without escapes.
	i := p.pos
	for i < len(p.src) {
		c := p.src[i]
		if c == '"' {
			s := string(p.src[p.pos:i])
			p.pos = i + 1
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	buf := make([]byte, 0, i-p.pos+16)
	buf = append(buf, p.src[p.pos:i]...)
	p.pos = i
	for {
		if p.pos >= len(p.src) {
			p.pos = start
			return "", p.fail(ErrSyntax, "unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail(ErrSyntax, "control character in string")
		case c == '\\':
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.src[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.fail(ErrInvalidUTF8, "")
			}
			buf = append(buf, p.src[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

// escape decodes one escape sequence at p.pos and appends it to buf.
func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.pos+1 >= len(p.src) {
		return buf, p.fail(ErrSyntax, "unterminated escape")
	}
	c := p.src[p.pos+1]
	if r, ok := simpleEscape(c); ok {
		p.pos += 2
		return append(buf, r), nil
	}
	if c != 'u' {
		return buf, p.fail(ErrSyntax, "invalid escape")
	}
	r1, ok := p.hex4(p.pos + 2)
	if !ok {
		return buf, p.fail(ErrSyntax, "invalid \\u escape")
	}
	switch {
	case utf16.IsSurrogate(r1) && r1 < 0xDC00:
		// A high surrogate must be followed by an escaped low surrogate.
		if p.pos+12 <= len(p.src) && p.src[p.pos+6] == '\\' && p.src[p.pos+7] == 'u' {
			if r2, ok := p.hex4(p.pos + 8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
				p.pos += 12
				return utf8.AppendRune(buf, utf16.DecodeRune(r1, r2)), nil
			}
		}
		return buf, p.fail(ErrLoneSurrogate, string(p.src[p.pos:p.pos+6]))
	case utf16.IsSurrogate(r1):
		return buf, p.fail(ErrLoneSurrogate, string(p.src[p.pos:p.pos+6]))
	}
	p.pos += 6
	return utf8.AppendRune(buf, r1), nil
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for _, c := range p.src[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number parses a JSON number: an integer literal (no fraction, no exponent)
// becomes int64 and must lie within ±(2^53−1); any other becomes float64.
func (p *parser) number() (any, error) {
	start := p.pos
	i := p.pos
	digits := func() int {
		n := 0
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if p.src[i] == '-' {
		i++
	}
	intStart := i
	if n := digits(); n == 0 || (n > 1 && p.src[intStart] == '0') {
		return nil, p.fail(ErrSyntax, "invalid number")
	}
	integer := true
	if i < len(p.src) && p.src[i] == '.' {
		i++
		integer = false
		if digits() == 0 {
			return nil, p.fail(ErrSyntax, "invalid number")
		}
	}
	if i < len(p.src) && (p.src[i] == 'e' || p.src[i] == 'E') {
		i++
		integer = false
		if i < len(p.src) && (p.src[i] == '+' || p.src[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, p.fail(ErrSyntax, "invalid number")
		}
	}
	text := string(p.src[start:i])
	if integer {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || n > MaxSafeInteger || n < -MaxSafeInteger {
			return nil, p.fail(ErrIntegerRange, text)
		}
		p.pos = i
		return n, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // only a range error is possible after the grammar check
		return nil, p.fail(ErrNumberRange, text)
	}
	p.pos = i
	return f, nil
}

func simpleEscape(c byte) (byte, bool) {
	switch c {
	case '"', '\\', '/':
		return c, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}
