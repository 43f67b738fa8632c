// Package store keeps events in MongoDB (or the embedded FerretDB) with
// leaf tracking, idempotent appends, updates and deletes.
//
// # Collections
//
// Events of context type ct live in <ct>_events with the IEvent fields.
// Beside them, per type: <ct>_heads (the head log), <ct>_clids (client ids)
// and <ct>_edits (update and delete events by target); and one contexts
// registry. Collection names and indexes come from package migrations.
//
// # The head log
//
// Every change of a context's leaf set is a new head version: a document
// with _id "<cid>#<seq>" holding the leaves (with their ts), the event count
// and, until a later version exists, the events the change adds (a
// write-ahead copy). A writer that read version N claims N+1 by inserting
// it; the unique _id makes the insert a compare-and-swap on every backend.
// FerretDB v1 offers nothing else atomic: its updates read, modify and write
// back without a transaction, so a conditional update is not a CAS there.
//
// An append is therefore three round trips, all keyed by _id:
//
//  1. claim version N+1 (insert into <ct>_heads, carrying the new events);
//  2. insert the events into <ct>_events (isLeaf set on the new leaves);
//  3. unset isLeaf on the parents.
//
// Steps 2 and 3 (and, for clids and edits, their records) are the
// "completion" of a version. Completion is idempotent, and a writer
// completes version N before it claims N+1, whoever claimed N. So a crash or
// an error between any two steps is healed by the next write to the
// context, from any process: the events are rolled forward from the head
// log, the flags fixed. A version's write-ahead copy is dropped once a later
// version exists.
//
// Within one process, appends to one context are grouped: while one batch
// is being written the next requests queue, and the next batch writes them
// all with one claim, one insert and one flag update (group commit). Events
// of a batch form a chain. Several processes may share a database; they
// contend only through the claim, and the loser reloads, completes and
// retries.
//
// # Edits
//
// An update or delete is an event in the context's chain (t event.update
// or event.delete, o naming the target), so it is hashed, audited and
// federated. Applying it writes the target's d: the fold of all update
// events of the target over o, in (ts, _id) order, so every server ends
// with the same d whatever order they arrived in. Each edit is recorded in
// <ct>_edits under "<target>#<k>" (k claimed by insert), and a writer that
// wrote d checks for records it has not folded yet before it stops, so two
// processes editing one target cannot lose an edit.
package store
