package database

import "context"

// SQLite has one write lock per database file, and a writer that finds it
// taken sleeps in SQLite's busy handler (1, 2, 5 … 100 ms), not woken when
// the lock frees. Writes that FerretDB's pool hands SQLite at the same
// moment therefore wait far longer than they take: 8 one-event inserts at
// once ran at a quarter of the rate of the same inserts one after the
// other. So on FerretDB the writes of this process go to SQLite
// one at a time, through the gate below, and the claims that queue behind
// it meanwhile share the next insert (the store's claim_shared.go). Other processes on
// the same file still meet SQLite's lock. On MongoDB writes are not gated.

// Write runs f, a database write, alone among this connection's writes on
// FerretDB (at once on MongoDB). Every write of this process to the
// database goes through it.
func (c *Conn) Write(ctx context.Context, f func() error) error {
	if !c.backend.gated() {
		return f()
	}
	select {
	case c.writing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.writing }()
	return f()
}
