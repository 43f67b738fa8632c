// Package store keeps events in MongoDB (or the embedded FerretDB) with
// leaf tracking, idempotent appends, updates and deletes. It writes and
// reads; package audit checks what it wrote, through the read-only view in
// read_records.go. It reaches the database through package internal/database,
// which alone knows the backend: the store asks it what the backend can do
// (read ranges, count cheaply, escape nested arrays) and how far a failed
// atomic insert got (database.InsertError), never which backend it is.
// Reads and writes by _id carry the shard key cid (byID), so that a
// sharded cluster sends them to one shard (docs/scaling.md).
//
// # Collections
//
// Events of context type ct live in <ct>_events with the IEvent fields,
// o and d as BSON documents (an eventstore.Event carries them as canonical
// JSON; data.go converts, and a document just written keeps the event it
// was made from, so that answering needs no conversion back),
// beside the versions of each context's head (below) and the records of
// client ids ("<cid>#c<clid>", naming the event that has it). Per type
// there is also <ct>_edits (update and delete events by target), and one
// contexts registry. Names and indexes come from package migrations.
//
// # The head log
//
// Every change of a context's leaf set is a new head version: a document
// "<cid>#<seq>" holding the leaves (with their ts), the event count, which
// events carry isLeaf, and what the version added. A writer that read
// version N claims N+1 by inserting it, and the unique _id makes that insert
// a compare-and-swap on every backend. (FerretDB v1 offers nothing else
// atomic: its updates read, modify and write back without a transaction,
// so a conditional update is not a CAS there.)
//
// The version document, the events it adds and the records of their clids
// are written by one ordered insert into <ct>_events, all or nothing:
// FerretDB writes an insert of up to 100 documents in one SQLite
// transaction, and on a MongoDB replica set the insert runs in a
// transaction. A lost claim writes nothing. So an append, with a clid or
// without, is one write (plus, in a context that another writer moved,
// the reads to catch up), and an acknowledged event is always in a
// version. A clid used already fails that insert at its record, which
// names the first event: an append with a clid reads nothing before it
// (claim_insert.go).
//
// What a version implies beyond that insert — the clid records of events
// it ingests, isLeaf flags, edits applied to their targets — is its
// completion. Completion is
// idempotent, and a writer completes version N before it claims N+1,
// whoever claimed N; so a crash or an error between any two steps is healed
// by the next write to the context, from any process, or by a repair
// (package audit derives what the head should say, Rederive writes it).
// Every version is built by successor and written by advance (claim.go),
// whoever writes it: appends, flag versions and repairs.
//
// Within one process, appends to one context are grouped: while one batch
// is being written the next requests queue, and the next batch writes them
// all with one claim (group commit). Events of a batch form a chain. The
// claims of different contexts of one type that are ready together share
// one insert in turn (claim_shared.go), each still its own compare-and-
// swap; on the embedded store the writes of a process reach SQLite one at
// a time (writegate.go).
// Several processes may share a database; they contend only through the
// claim, and the loser reloads, completes and retries.
//
// Old head versions and commit log entries are folded into spans once they
// are ten minutes old (compact.go, spans.go): what the timeline and the
// federation need of them stays, one line per version, and a store at rest
// holds about one document per event. Readers find a version or an entry
// in its span when its document is gone; writers look for a newer head
// before they build on one they have known for over a minute, so that a
// folded version's number is never claimed again.
//
// The timeline (read_timeline.go) is read by position: a page starts and
// ends at a Cursor, and the commit logs at a LogPos (read_logpos.go). The store deals
// in these values only; package stream writes them as the cursors clients
// hold.
//
// isLeaf flags on event documents follow the head lazily
// (complete_flags.go), so that an append does not also update its parent;
// the API reports isLeaf from the head.
//
// # Edits
//
// An update or delete is an event in the context's chain (t event.update
// or event.delete, o naming the target), so it is hashed, audited and
// federated. Applying it writes the target's d: the fold of all update
// events of the target over o, in (ts, _id) order, so every server ends
// with the same d whatever order they arrived in. The rules (what an edit
// event says, how it applies, the fold) are package edits; the store
// records edits and writes their fold (complete_fold.go). Each edit is recorded in
// <ct>_edits under "<target>#<k>" (k claimed by insert), and a writer that
// wrote d checks for records it has not folded yet before it stops, so two
// processes editing one target cannot lose an edit.
//
// # The path of an append
//
// The files of the write path are named by its phases, in order:
//
//  1. Request (request.go; request_ingest.go for events from elsewhere):
//     Append and its siblings check the input and make a request.
//  2. Queue (queue.go): submit queues it on its context's writer; one
//     goroutine per busy context takes the queue as a batch (writeBatch)
//     and hands it to advance (claim.go), which runs phases 3 to 5.
//  3. Plan (plan.go): loadHead makes sure the writer holds the latest head
//     version (head.go reads versions); plan prefetches what the batch
//     needs (plan_prefetch.go) and the planner builds the events and the
//     next version (plan_local.go: request, repeat, checkTarget;
//     plan_ingest.go for a peer's events).
//  4. Claim (claim.go): advance claims the version: claimLogged
//     (claim_commitlog.go) takes a commit log number, insertVersion
//     (claim_insert.go) lays out entry, clid records, version and events,
//     and the shared insert (claim_shared.go) writes them with other
//     contexts' claims in one atomic insert (database.Conn.InsertAtomically).
//     A lost claim reads the newer head and plans again (back to 3); a
//     used clid answers with the event that has it.
//  5. Complete (complete.go): what the version implies is written: edits
//     folded into their targets (complete_fold.go), isLeaf flags later and
//     lazily (complete_flags.go, idle.go); a crash here is finished by the
//     next writer.
//  6. Tell (queue.go): the writer answers the requests and tells the
//     followers (Follow, store.go), such as the streams and the federation.
//
// Reads are apart, in read*.go; upkeep in compact.go and spans.go (folding
// old versions), idle.go, repair.go, undo.go and space.go.
package store
