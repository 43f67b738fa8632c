// Package edits holds the rules of edits: what an update or delete event
// says (Edit, Parse, Encode), how an update applies to data (Edit.Apply),
// and the fold of all the edit events that name an event over its o (Fold),
// which every server and the audit compute alike. Data is canonical JSON,
// as eventstore.Event carries it, parsed into hashing.Object. It does no
// I/O and needs no database driver: store records and applies edits with
// it, audit checks stored data against it, api builds the edits that
// clients ask for.
package edits
