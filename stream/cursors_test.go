package stream_test

import (
	"maps"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/stream"
)

// TestCursorsKeepTheirForm: cursors written before the codecs left
// package store (these strings were made by store.EncodeCursor and
// store.EncodeStreamCursor of a server named a.example) still read as the
// same places, and the same places are written as the same text. Clients
// hold cursors across upgrades.
func TestCursorsKeepTheirForm(t *testing.T) {
	cur := stream.NewCursors("a.example")
	for text, want := range map[string]store.Cursor{
		"42.7.3.AN-3fUE2KU-s": {Pos: 42, Seq: 7, Index: 2},
		"0.1.0.-xFuZe4GLq7d":  store.StartCursor,
	} {
		got, err := cur.DecodeCursor("room", "general", text)
		if err != nil || got != want {
			t.Errorf("%s reads as %+v, %v; want %+v", text, got, err, want)
		}
		if again := cur.EncodeCursor("room", "general", want); again != text {
			t.Errorf("%+v is written %s, was %s", want, again, text)
		}
	}
	for _, c := range []struct {
		scope, text string
		want        stream.ServerCursor
	}{
		{"room", "room:12.3~HOeQFiR8pTKW", stream.ServerCursor{"room": {Entry: 12, Done: 3}}},
		{"", "dm:5.0,room:12.3~qUYFkvEEGBcq", stream.ServerCursor{"room": {Entry: 12, Done: 3}, "dm": {Entry: 5}}},
		{"", "~0yZzB9QEP5pD", stream.ServerCursor{}},
	} {
		got, err := cur.DecodeServerCursor(c.scope, c.text)
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%s (scope %q) reads as %v, %v; want %v", c.text, c.scope, got, err, c.want)
		}
		if again := cur.EncodeServerCursor(c.scope, c.want); again != c.text {
			t.Errorf("%v (scope %q) is written %s, was %s", c.want, c.scope, again, c.text)
		}
	}
}

// TestCursorsAreBound: a cursor reads only in its scope (its context, or
// its server-wide stream) on its server; anything else is EBADCURSOR.
// (That the store refuses a cursor of no boundary is store's
// TestListChecksCursors.)
func TestCursorsAreBound(t *testing.T) {
	cur, other := stream.NewCursors("a.example"), stream.NewCursors("other.test")
	at := store.Cursor{Pos: 3, Seq: 3, Index: 0}
	text := cur.EncodeCursor("room", "c1", at)
	if got, err := cur.DecodeCursor("room", "c1", text); err != nil || got != at {
		t.Errorf("its own cursor: %+v, %v", got, err)
	}
	wantBad := func(what string, err error) {
		t.Helper()
		if eventstore.ErrorCode(err) != eventstore.EBADCURSOR {
			t.Errorf("%s: %v, want %s", what, err, eventstore.EBADCURSOR)
		}
	}
	_, err := cur.DecodeCursor("room", "c2", text)
	wantBad("another context", err)
	_, err = cur.DecodeCursor("dm", "c1", text)
	wantBad("another context type", err)
	_, err = other.DecodeCursor("room", "c1", text)
	wantBad("another server", err)
	for _, bad := range []string{"", "x", "1.2.3", text + "x", "0.1.0", "bogus!"} {
		_, err = cur.DecodeCursor("room", "c1", bad)
		wantBad(bad, err)
	}

	pos := stream.ServerCursor{"room": {Entry: 4, Done: 1}}
	for _, scope := range []string{"room", ""} {
		text := cur.EncodeServerCursor(scope, pos)
		if got, err := cur.DecodeServerCursor(scope, text); err != nil || !maps.Equal(got, pos) {
			t.Errorf("scope %q, its own cursor: %v, %v", scope, got, err)
		}
		_, err = other.DecodeServerCursor(scope, text)
		wantBad("another server's stream", err)
	}
	_, err = cur.DecodeServerCursor("", cur.EncodeServerCursor("room", pos))
	wantBad("a room stream's cursor on the whole server", err)
	_, err = cur.DecodeServerCursor("room", cur.EncodeServerCursor("", pos))
	wantBad("the whole server's cursor on a room stream", err)
	_, err = cur.DecodeServerCursor("dm", cur.EncodeServerCursor("room", pos))
	wantBad("another type's stream", err)
	for _, bad := range []string{"", "x", "room:1.0~x", cur.EncodeServerCursor("", pos) + "x", cur.EncodeCursor("room", "c1", at)} {
		_, err = cur.DecodeServerCursor("", bad)
		wantBad(bad, err)
	}
	// A body that reads wrong is refused even with a good tag: these are
	// what a server of this name writes only if its code is broken.
	for _, c := range []stream.ServerCursor{{"room": {Entry: 0}}, {"room": {Entry: 1, Done: -1}}, {"Room": {Entry: 1}}} {
		_, err = cur.DecodeServerCursor("", cur.EncodeServerCursor("", c))
		wantBad("the body of "+cur.EncodeServerCursor("", c), err)
	}
}
