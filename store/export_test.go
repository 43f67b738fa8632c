package store

// SetFailpoint makes every named step of a write call f first; an error
// from f aborts the write there, as a crash would (tests only).
func SetFailpoint(s *Store, f func(step string) error) {
	if f == nil {
		s.failpoint.Store(nil)
		return
	}
	s.failpoint.Store(&f)
}
