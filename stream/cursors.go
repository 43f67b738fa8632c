package stream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// Cursors writes and reads the cursors this server hands out, in
// listings and streams: a place in the store (a store.Cursor of one
// context, a ServerCursor of the commit logs) as text bound to its scope
// and to this server.
//
// Each carries a tag: the first bytes of an HMAC, keyed by the server's
// name, over the scope and the numbers. It is not a secret — a made-up
// cursor reaches nothing its holder could not list anyway — but a cursor
// from another room, stream or server is refused rather than misread.
// Clients keep cursors across upgrades: the forms below must not change.
type Cursors struct {
	key []byte
}

// NewCursors returns the cursors of the server named server (its
// --server-name; renaming it invalidates every cursor).
func NewCursors(server string) *Cursors {
	return &Cursors{key: []byte("eventstore cursor " + server)}
}

// ServerCursor is where a server-wide stream is: a place in the commit log
// of each context type. A type it does not name had nothing delivered.
type ServerCursor map[string]store.LogPos

// A context cursor is written "<pos>.<seq>.<index+1>.<tag>", its scope
// "<ct>/<cid>".

// EncodeCursor writes c as a cursor of context ct/cid.
func (k *Cursors) EncodeCursor(ct, cid string, c store.Cursor) string {
	body := fmt.Sprintf("%d.%d.%d", c.Pos, c.Seq, c.Index+1)
	return body + "." + k.tag(ct+"/"+cid, body)
}

// DecodeCursor reads a cursor of context ct/cid; EBADCURSOR unless this
// server issued it for that context.
func (k *Cursors) DecodeCursor(ct, cid, text string) (store.Cursor, error) {
	bad := eventstore.Errorf(eventstore.EBADCURSOR, "cursor %q was not issued for %s/%s by this server", text, ct, cid)
	body, tag, ok := cutLast(text, ".")
	if !ok || !hmac.Equal([]byte(tag), []byte(k.tag(ct+"/"+cid, body))) {
		return store.Cursor{}, bad
	}
	parts := strings.Split(body, ".")
	if len(parts) != 3 {
		return store.Cursor{}, bad
	}
	var n [3]int64
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return store.Cursor{}, bad
		}
		n[i] = v
	}
	return store.Cursor{Pos: n[0], Seq: n[1], Index: int(n[2]) - 1}, nil
}

// A server-wide stream cursor is written "<ct>:<entry>.<done>,…~<tag>"
// (types sorted), its scope the context type the stream follows, or every
// type ("*").

// EncodeServerCursor writes c as a cursor of the server-wide stream of
// scope ("" for every context type).
func (k *Cursors) EncodeServerCursor(scope string, c ServerCursor) string {
	types := make([]string, 0, len(c))
	for ct := range c {
		types = append(types, ct)
	}
	slices.Sort(types)
	parts := make([]string, len(types))
	for i, ct := range types {
		parts[i] = fmt.Sprintf("%s:%d.%d", ct, c[ct].Entry, c[ct].Done)
	}
	body := strings.Join(parts, ",")
	return body + "~" + k.tag(streamScope(scope), body)
}

// DecodeServerCursor reads a server-wide stream cursor of scope;
// EBADCURSOR unless this server issued it for that scope.
func (k *Cursors) DecodeServerCursor(scope, text string) (ServerCursor, error) {
	bad := eventstore.Errorf(eventstore.EBADCURSOR, "cursor %q was not issued for this stream by this server", text)
	body, tag, ok := cutLast(text, "~")
	if !ok || !hmac.Equal([]byte(tag), []byte(k.tag(streamScope(scope), body))) {
		return nil, bad
	}
	c := ServerCursor{}
	if body == "" {
		return c, nil
	}
	for _, part := range strings.Split(body, ",") {
		ct, pos, ok := strings.Cut(part, ":")
		entry, done, ok2 := strings.Cut(pos, ".")
		e, err1 := strconv.ParseInt(entry, 10, 64)
		d, err2 := strconv.Atoi(done)
		if !ok || !ok2 || err1 != nil || err2 != nil || e < 1 || d < 0 || hashing.ValidateContextType(ct) != nil {
			return nil, bad
		}
		c[ct] = store.LogPos{Entry: e, Done: d}
	}
	return c, nil
}

func streamScope(scope string) string {
	if scope == "" {
		return "stream *"
	}
	return "stream " + scope
}

// tag binds a cursor body to a scope and to this server.
func (k *Cursors) tag(scope, body string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(scope + "\x00" + body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}
