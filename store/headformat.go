package store

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// How a head version is stored: {_id, cid, head: {seq, packed}}. head.seq
// is a field, which the cid_seq index orders (a page of the timeline is
// one range read of it on MongoDB); everything else of the head is one
// string, packed, of relaxed extended JSON with the field names of head.
//
// Why a string: FerretDB stores a document as JSON beside a schema that
// names the type of every field and the order of every object's keys, so
// a version of 450 bytes of BSON took 1,045 bytes in SQLite, more than the
// 120-byte message it adds. Packed, the head is one string field. A
// version is written with every append, one per claim, so with many rooms
// (one claim per event) versions were half the bytes written; fewer bytes
// per shared insert is what the throughput across rooms is bound by
// (BenchmarkDocumentMix). Nothing queries inside a head but seq. On
// MongoDB the string costs about what the fields did.
//
// Reading takes both forms: versions written before have the head's
// fields themselves, and a field stored beside packed (say, set by hand
// to mend a version) overrides the packed one.

// storedHead is head as stored.
type storedHead struct {
	Seq    int64  `bson:"seq"`
	Packed string `bson:"packed"`
}

// MarshalBSON writes d in the packed form.
func (d headDoc) MarshalBSON() ([]byte, error) {
	rest := d.Head
	rest.Cid, rest.Seq = "", 0 // stored as fields of their own
	packed, err := bson.MarshalExtJSON(rest, false, false)
	if err != nil {
		return nil, fmt.Errorf("packing head version %s: %w", d.ID, err)
	}
	return bson.Marshal(struct {
		ID   string     `bson:"_id"`
		Cid  string     `bson:"cid"`
		Head storedHead `bson:"head"`
	}{d.ID, d.Cid, storedHead{Seq: d.Head.Seq, Packed: string(packed)}})
}

// UnmarshalBSON reads a version in either form.
func (d *headDoc) UnmarshalBSON(data []byte) error {
	var doc struct {
		ID   string   `bson:"_id"`
		Cid  string   `bson:"cid"`
		Head bson.Raw `bson:"head"`
	}
	if err := bson.Unmarshal(data, &doc); err != nil {
		return err
	}
	d.ID, d.Cid = doc.ID, doc.Cid // kept when the head fails, to name the version
	var h head
	if len(doc.Head) > 0 {
		if packed, ok := doc.Head.Lookup("packed").StringValueOK(); ok {
			if err := bson.UnmarshalExtJSON([]byte(packed), false, &h); err != nil {
				return fmt.Errorf("head version %s: its packed head: %w", doc.ID, err)
			}
		}
		// The fields beside packed (only seq, as written here), or all of
		// them in a version written before.
		if err := bson.Unmarshal(doc.Head, &h); err != nil {
			return fmt.Errorf("head version %s: %w", doc.ID, err)
		}
	}
	if h.Cid == "" {
		h.Cid = doc.Cid
	}
	d.Head = h
	return nil
}
