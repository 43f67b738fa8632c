// Package audit proves that nothing in a store was altered, lost or
// forged: it recomputes every event's id and dHash, verifies its origin's
// signature (Signatures), checks that d is the fold of the event's updates
// and that deletions match delete events (data.go), checks each context's
// graph (parents and edit targets stored, one genesis, every event an
// ancestor of the head's leaves) and that the head and isLeaf flags agree
// with the events, and that history only grew since the last checkpoint,
// in the database and in a signed checkpoint file kept off it
// (checkpointfile.go).
//
// It reads through Source, a narrow view of the store (package store
// implements it): raw documents by cursor, head versions and events by
// _id. It never writes events; its own data is the checkpoints
// collection and the checkpoint file. Repair recomputes a context's derived
// data (head, isLeaf flags, d) with the same graph checker and has the store
// write it (store.Rederive).
//
// One graph checker (graph.go) serves the full audit (every document of a
// collection, or of one context, in one cursor, checked on all cores), the
// incremental audit (what head versions added since each context's
// checkpoint, read by _id, on top of the checkpoint's verified leaves) and
// repair's scan.
package audit
