package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/eventstore-go/eventstore/hashing"
)

// SchemaVersion is the v of every event this server creates.
const SchemaVersion = 2

// Event types the store itself gives meaning to; clients cannot append
// them directly.
const (
	TypeUpdate     = "event.update" // o: {"target": id, "set": [{"path","value"}…], "unset": [path…]}
	TypeDelete     = "event.delete" // o: {"target": id}
	TypeServerJoin = "server.join"  // o: {"server": name}: the context is shared with that server
)

// ValidateContext checks a context type and id as a caller gave them
// (in a path, a query or an event); the error is an *Error with code
// EINVALID.
func ValidateContext(ct, cid string) error {
	if err := hashing.ValidateContextType(ct); err != nil {
		return WrapError(EINVALID, err)
	}
	if err := hashing.ValidateContextID(cid); err != nil {
		return WrapError(EINVALID, err)
	}
	return nil
}

// Reserved reports whether clients may not append events of type t.
func Reserved(t string) bool {
	return t == TypeUpdate || t == TypeDelete || t == TypeServerJoin
}

// JoinedServer is the server that the o of a server.join event names: ""
// unless o is exactly {"server": name} with a valid server name.
func JoinedServer(o json.RawMessage) string {
	doc, _, err := hashing.ParseObject(o)
	if err != nil || len(doc) != 1 || doc[0].Name != "server" {
		return ""
	}
	server, _ := doc[0].Value.(string)
	if hashing.ValidateSrc(server) != nil {
		return ""
	}
	return server
}

// Event is an IEvent of schema version 2. O and D hold JSON objects in
// canonical form (hashing.Canonical), so that dHash is the hash of O as it
// stands; both are nil once the event is deleted.
type Event struct {
	ID        string
	Clid      string
	Pids      []string
	V         int
	TS        int64 // milliseconds since the epoch
	Src       string
	Ct        string
	Cid       string
	T         string
	DHash     string
	O         json.RawMessage
	D         json.RawMessage
	IsLeaf    bool
	Deleted   bool
	DeletedAt int64             // milliseconds since the epoch, when Deleted
	Sigs      map[string]string // key id → signature of the origin over ID; not hashed
}

// Head returns the hashed fields other than o.
func (e *Event) Head() hashing.Head {
	return hashing.Head{Src: e.Src, Ct: e.Ct, Cid: e.Cid, T: e.T, TS: e.TS, Pids: e.Pids, DHash: e.DHash}
}

// Verify checks that the event's hashed fields obey the spec, that dHash
// matches o (unless the event is deleted) and that _id recomputes. The
// error is an *Error with code EINVALIDDATA.
func (e *Event) Verify() error {
	if e.V != SchemaVersion {
		return Errorf(EINVALIDDATA, "v %d: this server implements schema version %d", e.V, SchemaVersion)
	}
	if err := hashing.ValidateEventID(e.ID); err != nil {
		return WrapError(EINVALIDDATA, err)
	}
	if err := e.Head().Validate(); err != nil {
		return WrapError(EINVALIDDATA, err)
	}
	if !e.Deleted {
		if e.O == nil {
			return Errorf(EINVALIDDATA, "o is missing")
		}
		_, canonical, err := hashing.ParseObject(e.O)
		if err != nil {
			return WrapError(EINVALIDDATA, fmt.Errorf("o: %w", err))
		}
		if got := hashing.DataHash(canonical); got != e.DHash {
			return Errorf(EINVALIDDATA, "dHash %s does not match o (which hashes to %s)", e.DHash, got)
		}
	}
	if got := hashing.EventID(e.Head()); got != e.ID {
		return Errorf(EINVALIDDATA, "_id %s does not match the event (which hashes to %s)", e.ID, got)
	}
	return nil
}

// MarshalJSON writes the event as the API and federation show it: ts and
// deletedAt as integer milliseconds, o and d as canonical JSON, isLeaf only
// when true, clid, deletedAt and sigs only when set.
func (e *Event) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 512+len(e.O)+len(e.D))
	str := func(name, v string) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = hashing.AppendString(b, v)
	}
	b = append(b, `{"_id":`...)
	b = hashing.AppendString(b, e.ID)
	if e.Clid != "" {
		str("clid", e.Clid)
	}
	b = append(b, `,"pids":[`...)
	for i, p := range e.Pids {
		if i > 0 {
			b = append(b, ',')
		}
		b = hashing.AppendString(b, p)
	}
	b = append(b, `],"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, e.TS, 10)
	str("src", e.Src)
	str("ct", e.Ct)
	str("cid", e.Cid)
	str("t", e.T)
	str("dHash", e.DHash)
	if e.O != nil && !e.Deleted {
		b = append(b, `,"o":`...)
		b = append(b, e.O...)
	}
	if e.D != nil && !e.Deleted {
		b = append(b, `,"d":`...)
		b = append(b, e.D...)
	}
	if e.IsLeaf {
		b = append(b, `,"isLeaf":true`...)
	}
	if e.Deleted {
		b = append(b, `,"deletedAt":`...)
		b = strconv.AppendInt(b, e.DeletedAt, 10)
	}
	if len(e.Sigs) > 0 {
		sigs, err := json.Marshal(e.Sigs)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"sigs":`...)
		b = append(b, sigs...)
	}
	return append(b, '}'), nil
}

// wireEvent is the JSON form read by UnmarshalJSON.
type wireEvent struct {
	ID        string            `json:"_id"`
	Clid      string            `json:"clid"`
	Pids      []string          `json:"pids"`
	V         int               `json:"v"`
	TS        *int64            `json:"ts"`
	Src       string            `json:"src"`
	Ct        string            `json:"ct"`
	Cid       string            `json:"cid"`
	T         string            `json:"t"`
	DHash     string            `json:"dHash"`
	O         json.RawMessage   `json:"o"`
	D         json.RawMessage   `json:"d"`
	IsLeaf    bool              `json:"isLeaf"`
	DeletedAt *int64            `json:"deletedAt"`
	Sigs      map[string]string `json:"sigs"`
}

// UnmarshalJSON reads an event in the form MarshalJSON writes. It refuses
// unknown fields and checks o and d against the data rules; it does not
// check the hashes (see Verify). Errors are *Error with code EINVALID or
// EINVALIDDATA.
func (e *Event) UnmarshalJSON(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var w wireEvent
	if err := dec.Decode(&w); err != nil {
		return WrapError(EINVALID, fmt.Errorf("event: %w", err))
	}
	if w.TS == nil {
		return Errorf(EINVALID, "event: ts is missing")
	}
	*e = Event{
		ID: w.ID, Clid: w.Clid, Pids: w.Pids, V: w.V, TS: *w.TS, Src: w.Src, Ct: w.Ct, Cid: w.Cid,
		T: w.T, DHash: w.DHash, IsLeaf: w.IsLeaf, Sigs: w.Sigs,
	}
	if e.Pids == nil {
		e.Pids = []string{}
	}
	if w.DeletedAt != nil {
		e.Deleted, e.DeletedAt = true, *w.DeletedAt
	}
	for _, data := range []struct {
		name string
		raw  json.RawMessage
		dst  *json.RawMessage
	}{{"o", w.O, &e.O}, {"d", w.D, &e.D}} {
		if data.raw == nil || string(data.raw) == "null" {
			continue
		}
		doc, err := ParseData(data.raw)
		if err != nil {
			return &Error{Code: EINVALIDDATA, Message: data.name + ": " + ErrorMessage(err), Err: err}
		}
		*data.dst = doc
	}
	return nil
}

// ParseData parses raw JSON event data under the hashing rules and returns
// its canonical form. The error is an *Error with code EINVALIDDATA
// wrapping the *hashing.DataError.
func ParseData(raw []byte) (json.RawMessage, error) {
	_, canonical, err := hashing.ParseObject(raw)
	if err != nil {
		return nil, WrapError(EINVALIDDATA, err)
	}
	return canonical, nil
}

// IsDataError reports whether err is a refusal under the hashing rules.
func IsDataError(err error) bool {
	var de *hashing.DataError
	var fe *hashing.FieldError
	return errors.As(err, &de) || errors.As(err, &fe)
}

// ContextGroup is the events of one context out of a mixed list, with
// their positions in that list.
type ContextGroup struct {
	Ct, Cid string
	Index   []int
	Events  []*Event
}

// GroupByContext splits events by context, in the order each context first
// appears and each context's events in list order; nil entries (events
// already refused) are skipped.
func GroupByContext(events []*Event) []*ContextGroup {
	var groups []*ContextGroup
	byContext := map[[2]string]*ContextGroup{}
	for i, e := range events {
		if e == nil {
			continue
		}
		g := byContext[[2]string{e.Ct, e.Cid}]
		if g == nil {
			g = &ContextGroup{Ct: e.Ct, Cid: e.Cid}
			byContext[[2]string{e.Ct, e.Cid}] = g
			groups = append(groups, g)
		}
		g.Index = append(g.Index, i)
		g.Events = append(g.Events, e)
	}
	return groups
}
