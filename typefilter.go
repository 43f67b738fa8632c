package eventstore

import (
	"strings"

	"github.com/eventstore-go/eventstore/hashing"
)

// TypeFilter matches event types: exact, or a prefix "a.b.*" (a.b itself
// and every type under it).
type TypeFilter string

// ParseTypeFilter checks a filter; "" matches every type.
func ParseTypeFilter(t string) (TypeFilter, error) {
	if t == "" {
		return "", nil
	}
	base, _ := strings.CutSuffix(t, ".*")
	if err := hashing.ValidateEventType(base); err != nil {
		return "", Errorf(EINVALID, "t must be an event type or a prefix such as message.*: %q", t)
	}
	return TypeFilter(t), nil
}

// Match reports whether t passes the filter.
func (f TypeFilter) Match(t string) bool {
	if f == "" {
		return true
	}
	if base, ok := strings.CutSuffix(string(f), ".*"); ok {
		return t == base || strings.HasPrefix(t, base+".")
	}
	return t == string(f)
}
