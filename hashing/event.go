package hashing

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Head holds the hashed fields of an event other than o, which enters through
// DHash. The _id is the SHA-256 of its canonical JSON.
type Head struct {
	Src   string
	Ct    string
	Cid   string
	T     string
	TS    int64
	Pids  []string
	DHash string
}

// DataHash is dHash: lowercase hex SHA-256 of canonical data.
func DataHash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// EmptyDataHash is the dHash of an absent o, which hashes as {}.
var EmptyDataHash = DataHash([]byte("{}"))

// AppendCanonicalHead appends the canonical JSON of the head object
// {"cid","ct","dHash","pids","src","t","ts"}; member order is fixed because
// the character rules leave every name and string value free of escapes.
func AppendCanonicalHead(dst []byte, h Head) []byte {
	dst = append(dst, `{"cid":`...)
	dst = appendString(dst, h.Cid)
	dst = append(dst, `,"ct":`...)
	dst = appendString(dst, h.Ct)
	dst = append(dst, `,"dHash":`...)
	dst = appendString(dst, h.DHash)
	dst = append(dst, `,"pids":[`...)
	for i, p := range h.Pids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, p)
	}
	dst = append(dst, `],"src":`...)
	dst = appendString(dst, h.Src)
	dst = append(dst, `,"t":`...)
	dst = appendString(dst, h.T)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, h.TS, 10)
	return append(dst, '}')
}

// EventID computes _id from the head. It does not validate; call
// Head.Validate first for input from outside.
func EventID(h Head) string {
	var buf [1536]byte
	sum := sha256.Sum256(AppendCanonicalHead(buf[:0], h))
	return hex.EncodeToString(sum[:])
}

// Validate checks every hashed field of the head against the spec.
func (h Head) Validate() error {
	checks := []error{
		ValidateSrc(h.Src),
		ValidateContextType(h.Ct),
		ValidateContextID(h.Cid),
		ValidateEventType(h.T),
		ValidateTimestamp(h.TS),
		ValidatePids(h.Pids),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if !isEventID(h.DHash) {
		return &FieldError{Field: "dHash", Value: h.DHash, Err: ErrBadEventID}
	}
	return nil
}

// ID computes the dHash and _id of an event whose data is given as
// canonical JSON (nil means an absent o, which hashes as {}).
func ID(h Head, canonicalO []byte) (dHash, id string) {
	if canonicalO == nil {
		h.DHash = EmptyDataHash
	} else {
		h.DHash = DataHash(canonicalO)
	}
	return h.DHash, EventID(h)
}

// ValidateSrc checks an origin server name: lowercase DNS labels [a-z0-9-]
// separated by '.', an optional :port, at most 255 bytes.
func ValidateSrc(s string) error {
	bad := &FieldError{Field: "src", Value: s, Err: ErrBadSrc}
	if len(s) == 0 || len(s) > 255 {
		return bad
	}
	host := s
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			host = s[:i]
			port := s[i+1:]
			n, err := strconv.Atoi(port)
			if err != nil || len(port) == 0 || len(port) > 5 || port[0] == '+' || port[0] == '-' || n < 1 || n > 65535 {
				return bad
			}
			break
		}
	}
	label := 0
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			label++
		case c == '.' && label > 0:
			label = 0
		default:
			return bad
		}
	}
	if label == 0 {
		return bad
	}
	return nil
}

// ValidateContextType checks ct against ^[a-z][a-z0-9_-]{0,31}$.
func ValidateContextType(s string) error {
	if len(s) == 0 || len(s) > 32 || !isLower(s[0]) {
		return &FieldError{Field: "ct", Value: s, Err: ErrBadContextType}
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLower(c) && !isDigit(c) && c != '_' && c != '-' {
			return &FieldError{Field: "ct", Value: s, Err: ErrBadContextType}
		}
	}
	return nil
}

// ValidateContextID checks cid against ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$.
func ValidateContextID(s string) error {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return &FieldError{Field: "cid", Value: s, Err: ErrBadContextID}
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case isAlnum(c), c == '.', c == '_', c == ':', c == '@', c == '-':
		default:
			return &FieldError{Field: "cid", Value: s, Err: ErrBadContextID}
		}
	}
	return nil
}

// ValidateEventType checks t against ^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$,
// at most 64 characters.
func ValidateEventType(s string) error {
	bad := &FieldError{Field: "t", Value: s, Err: ErrBadEventType}
	if len(s) == 0 || len(s) > 64 {
		return bad
	}
	segmentStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case segmentStart:
			if !isLower(c) {
				return bad
			}
			segmentStart = false
		case c == '.':
			segmentStart = true
		case !isLower(c) && !isDigit(c) && c != '-':
			return bad
		}
	}
	if segmentStart {
		return bad
	}
	return nil
}

// ValidateTimestamp checks 0 <= ts <= 2^53-1 (milliseconds since the epoch).
func ValidateTimestamp(ts int64) error {
	if ts < 0 || ts > MaxSafeInteger {
		return &FieldError{Field: "ts", Value: strconv.FormatInt(ts, 10), Err: ErrBadTimestamp}
	}
	return nil
}

// MaxParents is the largest number of parents an event may name.
const MaxParents = 20

// ValidatePids checks parent ids: each an event id, sorted ascending, no
// duplicates, at most 20. Whether an empty list is allowed depends on the
// context (only its first event has none), which the store checks.
func ValidatePids(pids []string) error {
	if len(pids) > MaxParents {
		return &FieldError{Field: "pids", Err: ErrPidsTooMany}
	}
	for i, p := range pids {
		if !isEventID(p) {
			return &FieldError{Field: "pids", Value: p, Err: ErrBadEventID}
		}
		if i > 0 {
			switch {
			case p == pids[i-1]:
				return &FieldError{Field: "pids", Value: p, Err: ErrPidsDuplicate}
			case p < pids[i-1]:
				return &FieldError{Field: "pids", Value: p, Err: ErrPidsUnsorted}
			}
		}
	}
	return nil
}

// ValidateEventID checks an event id (as found in a URL or a pids list).
func ValidateEventID(id string) error {
	if !isEventID(id) {
		return &FieldError{Field: "_id", Value: id, Err: ErrBadEventID}
	}
	return nil
}

func isEventID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isDigit(c) || (c >= 'A' && c <= 'Z') }
