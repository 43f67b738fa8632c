package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// The insert of one claim, and what a duplicate key in it means.
//
// A claim's documents go in one atomic insert, in this order: its commit
// log entry (if it adds events), the clid records of its appends, its head
// version, its events. Every one of the first three is claimed by its
// unique _id, so a duplicate says which was had first:
//
//   - the entry: another writer took that log number; the claim tries the
//     next (claim_commitlog.go), unless the version is taken as well;
//   - a clid record: that clid was used in the context already. The
//     request is a repeat (or a clid reused for another message): its
//     answer is the event the record names, and the batch is planned
//     again without it. The insert itself found the repeat: an append
//     with a clid reads nothing before it;
//   - the version: another writer moved the head; the claim is lost.
//
// On FerretDB an ordered insert that fails goes on one document at a time
// and stops at the duplicate, so what comes before it is written: an entry
// with no version is passed by readers (read_commits.go), and the records before
// a duplicate record, which name events that will not be written, are
// removed. In a MongoDB transaction nothing is written, and the duplicate's
// document is not named: it is found by reading.

// clidTaken: a claim's insert failed at the record of clid.
type clidTaken struct{ clid string }

func (e *clidTaken) Error() string { return fmt.Sprintf("clid %q is used already", e.clid) }

// insertVersion inserts entry (if any), the clid records of version h,
// h and its events in one atomic insert. It fails with errEntryTaken if
// the entry's number was taken and with *clidTaken if a clid was, and
// returns false if the version was.
func (s *Store) insertVersion(ctx context.Context, ct string, h *head, events []eventDoc, entry *logDoc) (bool, error) {
	docs := make([]any, 0, 2+len(h.records)+len(events))
	if entry != nil {
		docs = append(docs, *entry)
	}
	recordsAt := len(docs)
	for _, r := range h.records {
		docs = append(docs, r)
	}
	versionAt := len(docs)
	docs = append(docs, headDoc{ID: headID(h.Cid, h.Seq), Cid: h.Cid, Head: *h})
	bytes := 0
	for _, e := range events {
		docs = append(docs, e)
		bytes += len(e.O) + len(e.D)
	}
	// Encoded here, by each claim's own goroutine, rather than by the
	// driver inside the shared insert, which holds the write gate: there
	// it made the one write at a time wait for every claim's encoding.
	for i, d := range docs {
		raw, err := bson.Marshal(d)
		if err != nil {
			return false, fmt.Errorf("encoding a claim of %s/%s: %w", ct, h.Cid, err)
		}
		docs[i] = bson.Raw(raw)
	}
	err := s.insertClaim(ctx, ct, h, docs, versionAt+1, bytes)
	if err == nil {
		return true, nil
	}
	var ie *database.InsertError
	if !errors.As(err, &ie) || !ie.Duplicate {
		return false, err
	}
	index := ie.At
	if index < 0 { // nothing written, and the duplicate not named
		return s.duplicateRead(ctx, ct, h, entry != nil)
	}
	switch {
	case entry != nil && index == entryIndex:
		// Stopped at the first document. If the version is taken as
		// well, the claim is lost whatever the number (trying more
		// numbers for a version that cannot be had only races the writer
		// that has it).
		if taken, err := s.versionTaken(ctx, ct, h); err != nil || taken {
			return false, err
		}
		return false, errEntryTaken
	case index < versionAt:
		clid := h.records[index-recordsAt]
		if index > recordsAt { // ours, written one at a time before it
			if err := s.removeRecords(ctx, ct, h.records[:index-recordsAt]); err != nil {
				return false, err
			}
		}
		return false, &clidTaken{clid: clidOf(clid)}
	case index == versionAt:
		// Its clid records went in before the version, one at a time.
		return false, s.removeRecords(ctx, ct, h.records)
	}
	// Only on FerretDB, and only if an event was written outside a
	// version, which no code path does: the version went in, some events
	// did not. Write them now rather than leave it half done.
	s.log.Error("events already stored while claiming a head version", "ct", ct, "cid", h.Cid, "seq", h.Seq, "at", index)
	return true, s.insertMissing(ctx, s.events(ct), docs[versionAt+1:])
}

// duplicateRead finds, after a duplicate in a transaction that wrote
// nothing, which of a claim's documents another writer had first: the
// version (lost), a clid record (*clidTaken) or the entry (errEntryTaken).
func (s *Store) duplicateRead(ctx context.Context, ct string, h *head, hasEntry bool) (bool, error) {
	if taken, err := s.versionTaken(ctx, ct, h); err != nil || taken {
		return false, err
	}
	for _, r := range h.records {
		var other clidRecord
		found, err := s.findIn(ctx, ct, r.Cid, r.ID, &other)
		if err != nil {
			return false, err
		}
		if found {
			return false, &clidTaken{clid: clidOf(r)}
		}
	}
	if hasEntry {
		return false, errEntryTaken
	}
	return false, nil // gone again: claim again
}

// versionTaken reports whether version h's _id is stored.
func (s *Store) versionTaken(ctx context.Context, ct string, h *head) (bool, error) {
	var d headDoc
	return s.findIn(ctx, ct, h.Cid, headID(h.Cid, h.Seq), &d)
}

// removeRecords removes clid records a failed claim wrote (those that name
// another event are another claim's, and stay).
func (s *Store) removeRecords(ctx context.Context, ct string, records []clidRecord) error {
	if len(records) == 0 {
		return nil
	}
	return s.conn.Write(ctx, func() error {
		for _, r := range records {
			if _, err := s.events(ct).DeleteOne(ctx, append(s.byID(r.Cid, r.ID), bson.E{Key: "event", Value: r.Event})); err != nil {
				return err
			}
		}
		return nil
	})
}

// clidOf is the client id of record r.
func clidOf(r clidRecord) string { return r.ID[len(r.Cid)+2:] }

// staleRecordAfter is how old a clid record whose event is not stored must
// be before it is taken for the leftover of a claim that failed (a crash
// in the middle of FerretDB's document-by-document insert) rather than one
// still being written. Processes' clocks agree to within a minute.
const staleRecordAfter = 2 * time.Minute

// usedClid returns the event that clid names in context ct/cid, after a
// claim found the clid used. A record whose event is not stored is being
// written, or is what a failed claim left behind: a claim on FerretDB whose
// insert failed wrote it one document at a time and removes it at once,
// so usedClid looks again for a while (recordPatience); a record still
// without its event then is EUNAVAILABLE (retry), and once stale it is
// removed (nil: claim again).
func (s *Store) usedClid(ctx context.Context, ct, cid, clid string) (*eventstore.Event, error) {
	deadline := time.Now().Add(recordPatience)
	for {
		var r clidRecord
		found, err := s.findIn(ctx, ct, cid, migrations.ClidRecordID(cid, clid), &r)
		if err != nil || !found {
			return nil, err // removed meanwhile: claim again
		}
		var d eventDoc
		found, err = s.findIn(ctx, ct, cid, r.Event, &d)
		switch {
		case err != nil:
			return nil, err
		case found:
			return d.event()
		case s.opts.Now().Sub(r.At.Time()) >= staleRecordAfter:
			s.log.Warn("removing a clid record whose event was never written", "ct", ct, "cid", cid, "clid", clid, "event", r.Event)
			return nil, s.removeRecords(ctx, ct, []clidRecord{r})
		case time.Now().After(deadline):
			return nil, eventstore.Errorf(eventstore.EUNAVAILABLE, "clid %q of %s/%s is being written by another request; retry", clid, ct, cid)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// recordPatience is how long usedClid waits for a record's event to be
// written, or the record removed, before it answers EUNAVAILABLE.
const recordPatience = time.Second
