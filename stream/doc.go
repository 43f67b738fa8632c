// Package stream is the live half of the timeline: one Hub per process
// follows the commit log of every context type (store.ReadLog) and fans
// each new version out to its subscribers, and Follow turns a subscription
// into an exact stream for one context or for the whole server — backlog
// from the store, then live, resumable by cursor, never a gap and never a
// repeat. The SSE endpoints (package api) are built on Follow, the
// WebSocket gateway on FollowDetached: the same stream, whose live part is
// sent by a few senders (senders.go) rather than a goroutine waiting per
// subscription, so that an idle subscription costs no stack and a busy
// room's fan-out does not crowd out the writers.
//
// The cursors it and the listings hand out are places in the store
// (store.Cursor, store.LogPos) written as text bound to their scope and
// to this server by Cursors (cursors.go), keyed by the server's name; their
// form never changes, since clients keep them across upgrades.
//
// It reads the store through Store (store.go), the few methods of
// *store.Store it calls, and writes nothing but the void entries the
// store's log reader may write (see store/claim_commitlog.go). A Hub learns of this
// process's writes at once (Committed, called by a follower of the store: store.Store.Follow)
// and of other processes' by reading the logs every Config.Poll, an _id
// read per context type, and on MongoDB also at once, woken by a change
// stream on the log entries (store.WatchLogs; not exercised here). Either
// way it reads the logs by _id: the change stream only wakes it.
package stream
