package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/hashing"
)

// apiClient calls a test server through package client, verifying every
// event it receives (WithVerify), and keeps the status of the last answer:
// the client takes every 2xx for success and every refusal for its code,
// and the tests still check the exact status the server chose.
type apiClient struct {
	*client.Client
	mu   sync.Mutex
	last int // the status of the last answer
}

// newClient is an apiClient of the server at url with token ("": none).
// Nothing is retried, so that a test sees every failure; a stream
// reconnects after 20 ms at first.
func newClient(t *testing.T, url, token string) *apiClient {
	t.Helper()
	a := &apiClient{}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			a.mu.Lock()
			a.last = resp.StatusCode
			a.mu.Unlock()
		}
		return resp, err
	})}
	c, err := client.New(url, client.WithToken(token), client.WithVerify(), client.WithHTTPClient(hc),
		client.WithRetry(1, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	a.Client = c
	return a
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// status fails the test unless the last answer had the status. Only for
// calls made one at a time.
func (a *apiClient) status(t *testing.T, want int) {
	t.Helper()
	a.mu.Lock()
	got := a.last
	a.mu.Unlock()
	if got != want {
		t.Fatalf("the last answer had status %d, want %d", got, want)
	}
}

// refused fails the test unless err carries code and the answer had the
// status.
func (a *apiClient) refused(t *testing.T, err error, code eventstore.Code, status int) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
	a.status(t, status)
}

// canonical is event data (o or d) as the canonical JSON the API writes.
func canonical(t *testing.T, data json.RawMessage) string {
	t.Helper()
	js, err := hashing.CanonicalJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// event is an event as the API writes it, for the checks on the wire
// itself.
type event struct {
	ID        string          `json:"_id"`
	Clid      string          `json:"clid"`
	Pids      []string        `json:"pids"`
	TS        int64           `json:"ts"`
	T         string          `json:"t"`
	O         json.RawMessage `json:"o"`
	D         json.RawMessage `json:"d"`
	IsLeaf    bool            `json:"isLeaf"`
	DeletedAt *int64          `json:"deletedAt"`
}

// checkHash runs "eventstore hash" on an event as the API returned it: the
// id must recompute.
func checkHash(t *testing.T, raw []byte) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"eventstore", "hash"}, func(string) string { return "" },
		bytes.NewReader(raw), &stdout, &stderr)
	if status := exitStatus(err, &stderr); status != 0 {
		t.Fatalf("eventstore hash: status %d: %s\nevent: %s", status, stderr.String(), raw)
	}
}

// TestChatRoom drives a real server through a chat room's life, through
// package client.
func TestChatRoom(t *testing.T) {
	srv := startServer(t, nil)
	ctx := t.Context()
	c := newClient(t, srv.URL, srv.Token)
	const ct, cid = "room", "general"
	room := "/api/v1/contexts/room/general"
	genesis, err := c.CreateContext(ctx, ct, cid, client.NewContext{T: "room", O: map[string]string{"name": "general", "topic": "all things"}})
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusCreated)
	_, err = c.CreateContext(ctx, ct, cid, client.NewContext{})
	c.refused(t, err, eventstore.EEXISTS, http.StatusConflict)

	// Three writers append concurrently, each retrying one message by clid.
	const writers, perWriter = 3, 40
	var mu sync.Mutex
	acked := map[string]string{} // id → clid
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				msg := client.NewEvent{T: "msg", Clid: fmt.Sprintf("w%d-%d", w, i), O: map[string]any{
					"msg": fmt.Sprintf("message %d from writer %d", i, w), "u": map[string]string{"_id": fmt.Sprintf("u%d", w)}}}
				e, created, err := c.Append(ctx, ct, cid, msg)
				if err != nil || !created { // created: the answer was 201
					t.Errorf("append: created %v, %v", created, err)
					return
				}
				if i == 0 { // a retry gets the same event back
					again, created, err := c.Append(ctx, ct, cid, msg)
					if err != nil || created || again.ID != e.ID {
						t.Errorf("retry: created %v, %v, event %v, want %s", created, err, again, e.ID)
					}
					// On the wire: 200, not 201, and the first event's very
					// bytes (but isLeaf, which it loses once it has a child).
					raw, _ := json.Marshal(msg.O)
					res := srv.do("POST", room+"/events", fmt.Sprintf(`{"t":"msg","o":%s,"clid":%q}`, raw, msg.Clid))
					first := *e
					first.IsLeaf = false
					want, err := first.MarshalJSON()
					if err != nil {
						t.Error(err)
					}
					if res.Status != http.StatusOK || !bytes.Equal(stripLeaf(bytes.TrimSpace(res.Body)), want) {
						t.Errorf("retry: %d %s, want 200 %s", res.Status, res.Body, want)
					}
				}
				mu.Lock()
				acked[e.ID] = e.Clid
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// List in pages until the end: every event once, in (ts, _id) order.
	var all []*eventstore.Event
	for e, err := range c.Events(ctx, ct, cid, client.ListOptions{Limit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		c.status(t, http.StatusOK) // of the page e came in
		all = append(all, e)
		if len(all) > 2*(1+writers*perWriter) {
			t.Fatal("listing does not end")
		}
	}
	if len(all) != 1+writers*perWriter {
		t.Fatalf("listed %d events, want %d", len(all), 1+writers*perWriter)
	}
	seen := map[string]bool{}
	for i, e := range all {
		if seen[e.ID] {
			t.Errorf("event %s listed twice", e.ID)
		}
		seen[e.ID] = true
		if i > 0 && (e.TS < all[i-1].TS || e.TS == all[i-1].TS && e.ID < all[i-1].ID) {
			t.Errorf("events %d and %d out of (ts, _id) order", i-1, i)
		}
	}
	for id := range acked {
		if !seen[id] {
			t.Errorf("acknowledged event %s not listed", id)
		}
	}
	// Raw: "after" is the wire's other name for "from", which the client
	// sends; it pages the same.
	page, err := c.List(ctx, ct, cid, client.ListOptions{Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	var after struct {
		Events []event `json:"events"`
	}
	srv.do("GET", room+"/events?limit=7&after="+url.QueryEscape(page.Next), nil).must(t, http.StatusOK).decode(t, &after)
	if len(after.Events) != 7 {
		t.Fatalf("after= gave %d events, want 7", len(after.Events))
	}
	for i, e := range after.Events {
		if e.ID != all[7+i].ID {
			t.Errorf("after=: event %d is %s, want %s", 7+i, e.ID, all[7+i].ID)
		}
	}

	// Edit a message, then delete another.
	target := all[10]
	upd, err := c.Update(ctx, ct, cid, target.ID, client.Edit{Set: map[string]any{"msg": "edited", "meta.edited": true}, Unset: []string{"u"}})
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusCreated)
	if upd.T != "event.update" {
		t.Errorf("update event type %s", upd.T)
	}
	edited, err := c.Get(ctx, ct, cid, target.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	if d, o := canonical(t, edited.D), canonical(t, edited.O); d != `{"meta":{"edited":true},"msg":"edited"}` || o != canonical(t, target.O) {
		t.Errorf("after edit: o %s d %s", o, d)
	}
	// Raw: "eventstore hash" reads the API's own bytes, and hashes o, not
	// the edited d.
	checkHash(t, srv.do("GET", room+"/events/"+target.ID, nil).must(t, http.StatusOK).Body)
	victim := all[20]
	if _, err := c.Delete(ctx, ct, cid, victim.ID); err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusCreated)
	deleted, err := c.Get(ctx, ct, cid, victim.ID) // the chain still verifies without o
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	if !deleted.Deleted || deleted.DeletedAt == 0 || deleted.O != nil || deleted.D != nil {
		t.Errorf("after delete: %+v", deleted)
	}
	// Raw: on the wire a deleted event has deletedAt and no o or d at all
	// (not null), and "eventstore hash" still recomputes its _id.
	gone := srv.do("GET", room+"/events/"+victim.ID, nil).must(t, http.StatusOK)
	var wire event
	gone.decode(t, &wire)
	checkHash(t, gone.Body)
	if wire.DeletedAt == nil || wire.O != nil || wire.D != nil {
		t.Errorf("after delete: %s", gone.Body)
	}
	_, err = c.Delete(ctx, ct, cid, victim.ID)
	c.refused(t, err, eventstore.EGONE, http.StatusGone)
	_, err = c.Update(ctx, ct, cid, victim.ID, client.Edit{Set: map[string]any{"msg": "x"}})
	c.refused(t, err, eventstore.EGONE, http.StatusGone)

	// Leaves: what the summary says, each flagged as a leaf when read.
	leaves, err := c.Leaves(ctx, ct, cid)
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	sum, err := c.Context(ctx, ct, cid)
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	if !slices.Equal(leaves, sum.Leaves) || len(leaves) == 0 {
		t.Errorf("leaves %v, summary %v", leaves, sum.Leaves)
	}
	if sum.Count != 1+writers*perWriter+2 {
		t.Errorf("count %d", sum.Count)
	}
	for _, id := range leaves {
		e, err := c.Get(ctx, ct, cid, id)
		if err != nil {
			t.Fatal(err)
		}
		c.status(t, http.StatusOK)
		if !e.IsLeaf {
			t.Errorf("leaf %s read without isLeaf", id)
		}
	}
	g, err := c.Get(ctx, ct, cid, genesis.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	if g.IsLeaf {
		t.Error("genesis reads as a leaf")
	}
	report, err := c.Verify(ctx, ct, cid)
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusOK)
	if !report.Clean || report.Events != sum.Count || report.Redacted != 1 {
		t.Errorf("verify report %+v", report)
	}
	_, err = c.Verify(ctx, ct, "nope")
	c.refused(t, err, eventstore.ENOTFOUND, http.StatusNotFound)
}

// TestPeriodicAudit: with --audit-interval the server audits itself and
// says so in its metrics.
func TestPeriodicAudit(t *testing.T) {
	srv := startServer(t, nil, "--audit-interval", "100ms")
	c := newClient(t, srv.URL, srv.Token)
	if _, err := c.CreateContext(t.Context(), "room", "a", client.NewContext{}); err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusCreated)
	if _, created, err := c.Append(t.Context(), "room", "a", client.NewEvent{T: "msg"}); err != nil || !created {
		t.Fatalf("append: created %v, %v", created, err)
	}
	// Raw: the metrics are Prometheus text, not the API.
	for i := 0; ; i++ {
		body := string(srv.do("GET", "/metrics", nil).must(t, http.StatusOK).Body)
		ran := strings.Contains(body, "eventstore_audit_last_run_timestamp_seconds ") &&
			!strings.Contains(body, "eventstore_audit_last_run_timestamp_seconds 0\n")
		verified := strings.Contains(body, "eventstore_audit_events_verified_total 2")
		if ran && verified {
			for _, kind := range []string{"id_mismatch", "d_mismatch", "deleted_mismatch", "bad_signature", "unknown_key", "bad_checkpoint"} {
				if !strings.Contains(body, `eventstore_audit_problems{kind="`+kind+`"} 0`) {
					t.Errorf("problem gauge %s missing:\n%s", kind, body)
				}
			}
			if !strings.Contains(body, `eventstore_events_stored_total{ct="room",origin="local",t="msg"} 1`) {
				t.Errorf("stored events counter missing")
			}
			if !strings.Contains(body, `eventstore_http_requests_total{method="POST",route="/api/v1/contexts/{ct}/{cid}/events",status="201"} 1`) {
				t.Errorf("request counter by route pattern missing")
			}
			return
		}
		if i > 100 {
			t.Fatalf("no audit in the metrics after 10 s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stripLeaf drops "isLeaf":true, which an event loses once it has a child.
func stripLeaf(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`,"isLeaf":true`), nil) }

// TestBadInput: every refused request gets the right status and code, and
// the store is unchanged afterwards.
func TestBadInput(t *testing.T) {
	tokens := []string{"--token", "read:read-token-0123456789", "--token", "write:write-token-0123456789"}
	srv := startServer(t, nil, tokens...)
	srv.Token = "write-token-0123456789"
	room := "/api/v1/contexts/room/r1"
	c := newClient(t, srv.URL, srv.Token)
	g, err := c.CreateContext(t.Context(), "room", "r1", client.NewContext{O: map[string]string{"name": "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.status(t, http.StatusCreated)
	m, created, err := c.Append(t.Context(), "room", "r1", client.NewEvent{T: "msg", O: map[string]string{"msg": "hi"}})
	if err != nil || !created {
		t.Fatalf("append: created %v, %v", created, err)
	}
	// Raw from here: the refusals are about the wire (malformed bodies,
	// headers, tokens), and each must get its exact status and
	// problem+json body.
	deep := strings.Repeat(`{"a":`, 32) + "{}" + strings.Repeat("}", 32)
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		token        string // "" → the write token; "-" → none
		status       int
		code         string
	}{
		{"malformed JSON", "POST", room + "/events", `{"t":"msg",`, nil, "", 400, "invalid_request"},
		{"not an object", "POST", room + "/events", `["t"]`, nil, "", 400, "invalid_request"},
		{"empty body", "POST", room + "/events", ``, nil, "", 400, "invalid_request"},
		{"wrong type of t", "POST", room + "/events", `{"t":5}`, nil, "", 400, "invalid_request"},
		{"wrong type of pids", "POST", room + "/events", `{"t":"msg","pids":"x"}`, nil, "", 400, "invalid_request"},
		{"unknown field", "POST", room + "/events", `{"t":"msg","text":"hi"}`, nil, "", 400, "invalid_request"},
		{"duplicate field", "POST", room + "/events", `{"t":"msg","t":"join"}`, nil, "", 400, "invalid_request"},
		{"missing t", "POST", room + "/events", `{"o":{}}`, nil, "", 400, "invalid_request"},
		{"bad event type", "POST", room + "/events", `{"t":"Msg"}`, nil, "", 400, "invalid_request"},
		{"reserved event type", "POST", room + "/events", `{"t":"event.update"}`, nil, "", 400, "invalid_request"},
		{"bad expected pid", "POST", room + "/events", `{"t":"msg","pids":["x"]}`, nil, "", 400, "invalid_request"},
		{"control character in clid", "POST", room + "/events", `{"t":"msg","clid":"a\u0001"}`, nil, "", 400, "invalid_request"},
		{"form content type", "POST", room + "/events", `{"t":"msg"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, "", 415, "unsupported_media_type"},
		{"o not an object", "POST", room + "/events", `{"t":"msg","o":[1]}`, nil, "", 400, "invalid_data"},
		{"invalid UTF-8 in o", "POST", room + "/events", "{\"t\":\"msg\",\"o\":{\"a\":\"\xff\"}}", nil, "", 400, "invalid_data"},
		{"lone surrogate", "POST", room + "/events", `{"t":"msg","o":{"a":"\ud800"}}`, nil, "", 400, "invalid_data"},
		{"duplicate member in o", "POST", room + "/events", `{"t":"msg","o":{"a":1,"a":2}}`, nil, "", 400, "invalid_data"},
		{"integer beyond 2^53-1", "POST", room + "/events", `{"t":"msg","o":{"n":9007199254740992}}`, nil, "", 400, "invalid_data"},
		{"member starting with $", "POST", room + "/events", `{"t":"msg","o":{"$set":1}}`, nil, "", 400, "invalid_data"},
		{"member with a dot", "POST", room + "/events", `{"t":"msg","o":{"a.b":1}}`, nil, "", 400, "invalid_data"},
		{"member with NUL", "POST", room + "/events", `{"t":"msg","o":{"a\u0000":1}}`, nil, "", 400, "invalid_data"},
		{"nesting 33 levels", "POST", room + "/events", `{"t":"msg","o":` + deep + `}`, nil, "", 400, "invalid_data"},
		{"canonical size over 64 KiB", "POST", room + "/events", `{"t":"msg","o":{"a":"` + strings.Repeat("x", 70000) + `"}}`, nil, "", 400, "invalid_data"},
		{"body over 256 KiB", "POST", room + "/events", `{"t":"msg","o":{"a":"` + strings.Repeat("x", 300000) + `"}}`, nil, "", 413, "too_large"},
		{"stale expected parents", "POST", room + "/events", `{"t":"msg","pids":["` + g.ID + `"]}`, nil, "", 409, "conflict"},
		{"context exists", "POST", room, `{}`, nil, "", 409, "context_exists"},
		{"unknown context", "POST", "/api/v1/contexts/room/nope/events", `{"t":"msg"}`, nil, "", 404, "not_found"},
		{"bad context type in path", "GET", "/api/v1/contexts/Room/r1", "", nil, "", 400, "invalid_request"},
		{"bad context id in path", "GET", "/api/v1/contexts/room/-r1", "", nil, "", 400, "invalid_request"},
		{"bad event id in path", "GET", room + "/events/xyz", "", nil, "", 400, "invalid_request"},
		{"unknown event", "GET", room + "/events/" + strings.Repeat("0", 64), "", nil, "", 404, "not_found"},
		{"bad cursor", "GET", room + "/events?after=bogus", "", nil, "", 400, "invalid_cursor"},
		{"limit too large", "GET", room + "/events?limit=1001", "", nil, "", 400, "invalid_request"},
		{"limit not a number", "GET", room + "/events?limit=ten", "", nil, "", 400, "invalid_request"},
		{"unknown query parameter", "GET", room + "/events?since=1", "", nil, "", 400, "invalid_request"},
		{"bad dir", "GET", room + "/events?dir=up", "", nil, "", 400, "invalid_request"},
		{"bad type filter", "GET", room + "/events?t=Msg*", "", nil, "", 400, "invalid_request"},
		{"bad cursor", "GET", room + "/events?from=1", "", nil, "", 400, "invalid_cursor"},
		{"from and after", "GET", room + "/events?from=1&after=1", "", nil, "", 400, "invalid_request"},
		{"empty update", "PATCH", room + "/events/" + m.ID, `{}`, nil, "", 400, "invalid_request"},
		{"update with bad path", "PATCH", room + "/events/" + m.ID, `{"unset":["a..b"]}`, nil, "", 400, "invalid_request"},
		{"update with overlapping paths", "PATCH", room + "/events/" + m.ID, `{"set":{"a":1},"unset":["a.b"]}`, nil, "", 400, "invalid_request"},
		{"update with bad value", "PATCH", room + "/events/" + m.ID, `{"set":{"a":{"$x":1}}}`, nil, "", 400, "invalid_data"},
		{"update through a string", "PATCH", room + "/events/" + m.ID, `{"set":{"msg.x":1}}`, nil, "", 400, "invalid_data"},
		{"update of an unknown event", "PATCH", room + "/events/" + strings.Repeat("0", 64), `{"set":{"a":1}}`, nil, "", 404, "not_found"},
		{"delete of an unknown event", "DELETE", room + "/events/" + strings.Repeat("0", 64), "", nil, "", 404, "not_found"},
		{"unknown endpoint", "GET", "/api/v1/rooms", "", nil, "", 404, "not_found"},
		{"method not allowed", "PUT", room, `{}`, nil, "", 405, "method_not_allowed"},
		{"missing token", "GET", room, "", nil, "-", 401, "unauthorized"},
		{"wrong token", "GET", room, "", nil, "not-a-token-at-all", 401, "unauthorized"},
		{"malformed authorization", "GET", room, "", []string{"Authorization", "Basic abc"}, "-", 401, "unauthorized"},
		{"read token writing", "POST", room + "/events", `{"t":"msg"}`, nil, "read-token-0123456789", 403, "forbidden"},
		{"read token deleting", "DELETE", room + "/events/" + m.ID, "", nil, "read-token-0123456789", 403, "forbidden"},
	}
	before := snapshot(t, srv, room)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *srv
			s.t = t
			switch tt.token {
			case "":
			case "-":
				s.Token = ""
			default:
				s.Token = tt.token
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := s.do(tt.method, tt.path, body, tt.header...)
			if r.Status != tt.status || r.Problem.Code != tt.code {
				t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.Problem.Code, tt.status, tt.code, r.Body)
			}
			if r.Problem.Status != tt.status || r.Problem.Detail == "" {
				t.Errorf("problem body %s", r.Body)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("content type %q", r.Header.Get("Content-Type"))
			}
		})
	}
	if after := snapshot(t, srv, room); after != before {
		t.Errorf("refused requests changed the store:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot is a context's summary (without its version, which idle upkeep
// may move) and every event, as JSON. Raw: the refusals must leave the
// server's very answers unchanged, byte for byte.
func snapshot(t *testing.T, srv *testServer, room string) string {
	t.Helper()
	var sum map[string]any
	srv.do("GET", room, nil).must(t, http.StatusOK).decode(t, &sum)
	delete(sum, "version")
	list := srv.do("GET", room+"/events?limit=1000", nil).must(t, http.StatusOK)
	s, _ := json.Marshal(sum)
	return string(s) + string(bytes.TrimSpace(list.Body))
}
