package store

import "context"

// SetFailpoint makes every named step of a write call f first; an error
// from f aborts the write there, as a crash would (tests only).
func SetFailpoint(s *Store, f func(step string) error) {
	if f == nil {
		s.failpoint.Store(nil)
		return
	}
	s.failpoint.Store(&f)
}

// PartialWrite is the failpoint error that makes a shared insert write
// its first n documents (every claim's entry and version come first) and
// then fail with err, as FerretDB's document-by-document retry does.
func PartialWrite(n int, err error) error { return &partialWrite{n: n, err: err} }

// MinCompactAfter is the least Options.CompactAfter New accepts.
const MinCompactAfter = minCompactAfter

// Direction names ListQuery.Backward in store's tests.
type Direction = bool

const (
	Forward  Direction = false
	Backward Direction = true
)

// CompactStats is what a compaction did.
type CompactStats = compactStats

// Compact is s.Compact, saying what it did.
func Compact(ctx context.Context, s *Store) (CompactStats, error) { return s.compact(ctx) }
