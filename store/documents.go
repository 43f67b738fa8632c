package store

import (
	"bytes"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/migrations"

	"github.com/eventstore-go/eventstore/internal/database"
)

// eventDoc is an event as stored in <ct>_events (and, as write-ahead copy,
// in a head version).
type eventDoc struct {
	ID        string            `bson:"_id"`
	Clid      string            `bson:"clid,omitempty"`
	Pids      []string          `bson:"pids"`
	V         int32             `bson:"v"`
	TS        bson.DateTime     `bson:"ts"`
	Src       string            `bson:"src"`
	Ct        string            `bson:"ct"`
	Cid       string            `bson:"cid"`
	T         string            `bson:"t"`
	DHash     string            `bson:"dHash"`
	O         bson.Raw          `bson:"o,omitempty"`
	D         bson.Raw          `bson:"d,omitempty"` // absent while it equals o
	IsLeaf    bool              `bson:"isLeaf,omitempty"`
	DeletedAt *bson.DateTime    `bson:"deletedAt,omitempty"`
	Sigs      map[string]string `bson:"sigs,omitempty"`
	Fold      *foldState        `bson:"dFold,omitempty"`
	// ArraysEscaped marks o and d as stored escaped (internal/database/escape.go).
	ArraysEscaped bool `bson:"arraysEscaped,omitempty"`

	// built is the event this document was made from (toDoc), so that
	// handing a just-written event out needs no conversion back.
	built *eventstore.Event `bson:"-"`
}

// foldState records which edits d reflects: the first N records of the
// target in <ct>_edits, the latest of them (in fold order) being (TS, ID).
type foldState struct {
	N  int64  `bson:"n"`
	TS int64  `bson:"ts"`
	ID string `bson:"id"`
}

// toDoc is a new event as stored, with o its data as BSON; d is stored
// only once it differs from o (read back, a missing d is o).
func toDoc(e *eventstore.Event, o bson.Raw) eventDoc {
	d := eventDoc{
		ID: e.ID, Clid: e.Clid, Pids: e.Pids, V: int32(e.V), TS: bson.DateTime(e.TS), Src: e.Src,
		Ct: e.Ct, Cid: e.Cid, T: e.T, DHash: e.DHash, O: o, IsLeaf: e.IsLeaf, Sigs: e.Sigs,
	}
	if d.Pids == nil {
		d.Pids = []string{}
	}
	if e.Deleted {
		at := bson.DateTime(e.DeletedAt)
		d.DeletedAt = &at
		d.O = nil
	}
	d.built = e
	return d
}

// event is the stored event as the store hands it out, o and d as
// canonical JSON. Stored data that does not convert (only tampering makes
// such) is an error naming the event; the audit reports it (stored).
func (d *eventDoc) event() (*eventstore.Event, error) {
	if d.built != nil {
		e := *d.built
		e.IsLeaf = d.IsLeaf
		return &e, nil
	}
	e, err := d.convert()
	if err != nil {
		return nil, fmt.Errorf("stored event %s: %w", d.ID, err)
	}
	return e, nil
}

// convert is event with the data's error apart: on an error the event
// comes without o and d.
func (d *eventDoc) convert() (*eventstore.Event, error) {
	e := &eventstore.Event{
		ID: d.ID, Clid: d.Clid, Pids: d.Pids, V: int(d.V), TS: int64(d.TS), Src: d.Src, Ct: d.Ct,
		Cid: d.Cid, T: d.T, DHash: d.DHash, IsLeaf: d.IsLeaf, Sigs: d.Sigs,
	}
	if e.Pids == nil {
		e.Pids = []string{}
	}
	if d.DeletedAt != nil {
		e.Deleted, e.DeletedAt = true, int64(*d.DeletedAt)
		return e, nil
	}
	o, dd := d.O, d.D
	if d.ArraysEscaped {
		var err error
		if o, err = database.UnescapeRaw(o); err != nil {
			return e, fmt.Errorf("escaped o does not decode: %w", err)
		}
		if dd, err = database.UnescapeRaw(dd); err != nil {
			return e, fmt.Errorf("escaped d does not decode: %w", err)
		}
	}
	js, err := eventData(o)
	if err != nil {
		return e, fmt.Errorf("o: %w", err)
	}
	e.O, e.D = js, js
	if dd != nil && !bytes.Equal(dd, o) {
		if e.D, err = eventData(dd); err != nil {
			e.O, e.D = nil, nil
			return e, fmt.Errorf("d: %w", err)
		}
	}
	return e, nil
}

// headDoc is one version of a context's head. It lives in <ct>_events
// beside the events, so that a version and the events it adds are written
// by one insert command: one SQLite transaction on FerretDB, one multi-
// document transaction on a MongoDB replica set. Its _id, "<cid>#<seq>",
// never looks like an event id; it has cid (so that sharding on cid keeps
// a context's heads with its events) but no v, which every event has: see
// migrations.EventsOf.
//
// It is stored as headformat.go says: head.seq as a field, the rest of the
// head packed into one string.
type headDoc struct {
	ID   string `bson:"_id"` // headID(cid, seq)
	Cid  string `bson:"cid"`
	Head head   `bson:"head"`
}

// head is the state of a context after one version.
type head struct {
	Cid           string       `bson:"cid,omitempty"` // not packed: the document's cid
	Seq           int64        `bson:"seq,omitempty"` // not packed: head.seq
	Leaves        []leaf       `bson:"leaves"`        // sorted by (ts, id)
	Count         int64        `bson:"count"`         // events in the context
	Genesis       string       `bson:"genesis"`
	Participation participants `bson:",inline"` // a named, exported field: the driver skips unexported ones
	// Pos is the length of the context's timeline on this server once
	// this version is written: Added holds positions Pos-len(Added)+1 …
	// Pos, in order, and Types their event types. Log is the newest entry
	// of the context type's commit log naming a version of this context up
	// to this one: this one's, if it adds events. See read_timeline.go and
	// claim_commitlog.go.
	Pos   int64    `bson:"pos"`
	Types []string `bson:"types,omitempty"`
	Log   int64    `bson:"log,omitempty"`
	// What this version added, for whoever completes it: the ids of its
	// events and which of them are edits.
	Added []string `bson:"added,omitempty"`
	Local []string `bson:"local,omitempty"` // those of Added created by this server (see local)
	// AllLocal: all of Added were created by this server, and Local is
	// left out (it would repeat Added).
	AllLocal bool `bson:"allLocal,omitempty"`
	// records are the clid records of its local appends, which its claim
	// writes (not stored in the version). Events it ingests may carry a
	// clid too: their records (RemoteClids) are written by its completion,
	// as are those of a version written before migration 10 (Clids), and
	// a clid already used keeps its first record.
	records     []clidRecord
	RemoteClids []clidRecord `bson:"remoteClids,omitempty"`
	Clids       []clidDoc    `bson:"clids,omitempty"`
	Edits       []string     `bson:"edits,omitempty"`
	// Flagged are the events that carry isLeaf once this version is
	// complete; Flag and Unflag are the flags its completion sets and clears.
	Flagged []string      `bson:"flagged,omitempty"`
	Flag    []string      `bson:"flag,omitempty"`
	Unflag  []string      `bson:"unflag,omitempty"`
	At      bson.DateTime `bson:"at"`
	// folded: read from a version span (spans.go), so it has only what a
	// span keeps. Never a base to build on: a newer version exists.
	folded bool
}

// local is the events of Added that this server created.
func (h *head) local() []string {
	if h.AllLocal {
		return h.Added
	}
	return h.Local
}

// participants are the servers a context is shared with and how each came
// to take part; every version carries them on to the next.
type participants struct {
	Servers []string `bson:"servers,omitempty"` // sorted
	// Joins names the server.join event that made each participant one
	// (the first this store stored; the creator has none), so that it is
	// found by _id rather than by scanning the context. Versions written
	// before it existed lack it.
	Joins []joinRef `bson:"joins,omitempty"`
}

// clone copies p, so that adding to the copy leaves p as it was.
func (p participants) clone() participants {
	return participants{Servers: slices.Clone(p.Servers), Joins: slices.Clone(p.Joins)}
}

// add makes server a participant, by the server.join event join ("" for
// the creator); a participant already is one.
func (p *participants) add(server, join string) {
	if server == "" || slices.Contains(p.Servers, server) {
		return
	}
	p.Servers = append(p.Servers, server)
	slices.Sort(p.Servers)
	if join != "" {
		p.Joins = append(p.Joins, joinRef{Server: server, Event: join})
	}
}

// joinRef is the server.join event that made a server a participant.
type joinRef struct {
	Server string `bson:"server"`
	Event  string `bson:"event"`
}

// leaf is a leaf event with its ts (a new event's ts follows its newest parent's).
type leaf struct {
	ID string `bson:"id"`
	TS int64  `bson:"ts"`
}

func headID(cid string, seq int64) string { return migrations.VersionID(cid, seq) }

// contextDoc is a context's entry in the contexts registry.
type contextDoc struct {
	ID      string        `bson:"_id"` // contextKey(ct, cid)
	Ct      string        `bson:"ct"`
	Cid     string        `bson:"cid"`
	Seq     int64         `bson:"seq"`              // a head version known to exist: where to start looking for the latest
	Folded  int64         `bson:"folded,omitempty"` // versions up to this one are folded into spans (compact.go)
	Created bson.DateTime `bson:"created"`
}

func contextKey(ct, cid string) string { return ct + "/" + cid }

// clidRecord maps a client id to the event it created, in <ct>_events
// beside the context's events. A claim writes it in the same insert as
// the event, before the head version: a clid used already fails that
// insert at the record (a duplicate _id), and the insert is one write.
type clidRecord struct {
	ID    string        `bson:"_id"` // migrations.ClidRecordID(cid, clid)
	Cid   string        `bson:"cid"`
	Event string        `bson:"event"`
	At    bson.DateTime `bson:"at"` // when its claim was made (a record without its event is stale a while after)
}

// clidDoc is a client id's record as versions written before migration 10
// name it, for completing such a version.
type clidDoc struct {
	ID    string `bson:"_id"` // cid + "#" + clid
	Event string `bson:"event"`
}

// editDoc is the k-th edit recorded for a target, in <ct>_edits.
type editDoc struct {
	ID    string   `bson:"_id"` // editID(target, k)
	Event string   `bson:"event"`
	TS    int64    `bson:"ts"`
	T     string   `bson:"t"` // event.update or event.delete
	Set   []setOp  `bson:"set,omitempty"`
	Unset []string `bson:"unset,omitempty"`
	// ArraysEscaped marks the set values as stored escaped (internal/database/escape.go).
	ArraysEscaped bool `bson:"arraysEscaped,omitempty"`
}

// setOp is an edits.SetOp as an edit record keeps it, its value BSON.
type setOp struct {
	Path  string `bson:"path"`
	Value any    `bson:"value"`
}

func editID(target string, k int64) string { return fmt.Sprintf("%s#%d", target, k) }
