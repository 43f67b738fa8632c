package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/stream"
)

// TestCursorsAreKeyedByServerName: serve keys the cursors of listings and
// of both streams by --server-name, as the store names its events, and a
// listing's cursor resumes the room's stream.
func TestCursorsAreKeyedByServerName(t *testing.T) {
	srv := startServer(t, nil, "--server-name", "a.test")
	const room = "/api/v1/contexts/room/r1"
	srv.do("POST", room, `{}`).must(t, http.StatusCreated)
	var page struct {
		End string `json:"end"`
	}
	srv.do("GET", room+"/events", nil).must(t, http.StatusOK).decode(t, &page)
	ours, others := stream.NewCursors("a.test"), stream.NewCursors("b.test")
	if _, err := ours.DecodeCursor("room", "r1", page.End); err != nil {
		t.Errorf("a listing's cursor under a.test's key: %v", err)
	}
	if _, err := others.DecodeCursor("room", "r1", page.End); eventstore.ErrorCode(err) != eventstore.EBADCURSOR {
		t.Errorf("a listing's cursor under b.test's key: %v, want invalid_cursor", err)
	}
	// The store's refusals come before the cursor's, as when the store
	// read cursors itself.
	for path, code := range map[string]string{
		room + "/events?from=bogus":                                         "invalid_cursor",
		"/api/v1/contexts/room/nope/events?from=bogus":                      "not_found",
		room + "/events?from=bogus&t=A*":                                    "invalid_request",
		"/api/v1/contexts/room/Bad!/events?from=bogus":                      "invalid_request",
		"/api/v1/contexts/room/r1/events?from=" + url.QueryEscape(page.End): "",
	} {
		if r := srv.do("GET", path, nil); r.Problem.Code != code {
			t.Errorf("GET %s: %d %q, want %q", path, r.Status, r.Problem.Code, code)
		}
	}
	for _, c := range []struct{ path, scope string }{
		{room + "/stream?from=" + url.QueryEscape(page.End), ""},
		{"/api/v1/stream?ct=room&from=start", "room"},
	} {
		caughtUp := followUntilCaughtUp(t, srv.URL+c.path)
		if c.scope == "" {
			_, err := ours.DecodeCursor("room", "r1", caughtUp)
			if err != nil {
				t.Errorf("%s: the room stream's cursor under a.test's key: %v", c.path, err)
			}
			continue
		}
		if _, err := ours.DecodeServerCursor(c.scope, caughtUp); err != nil {
			t.Errorf("%s: the server stream's cursor under a.test's key: %v", c.path, err)
		}
		if _, err := others.DecodeServerCursor(c.scope, caughtUp); eventstore.ErrorCode(err) != eventstore.EBADCURSOR {
			t.Errorf("%s: the server stream's cursor under b.test's key: %v, want invalid_cursor", c.path, err)
		}
	}
}

// followUntilCaughtUp opens a stream and returns the cursor of its
// caught-up marker.
func followUntilCaughtUp(t *testing.T, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := openStream(ctx, u, "")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", u, resp.Status)
	}
	var cursor string
	_ = readSSE(resp.Body, func(m sseMessage) bool {
		if m.event == "caught-up" {
			cursor = m.id
			return false
		}
		return true
	})
	if cursor == "" {
		t.Fatalf("%s: no caught-up marker", u)
	}
	return cursor
}
