package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// event is an event as the API returns it.
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

// TestChatRoom drives a real server through a chat room's life.
func TestChatRoom(t *testing.T) {
	srv := startServer(t, nil)
	room := "/api/v1/contexts/room/general"
	r := srv.do("POST", room, `{"t":"room","o":{"name":"general","topic":"all things"}}`).must(t, http.StatusCreated)
	var genesis event
	r.decode(t, &genesis)
	checkHash(t, r.Body)
	srv.do("POST", room, `{}`).must(t, http.StatusConflict)

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
				body := fmt.Sprintf(`{"t":"msg","o":{"msg":"message %d from writer %d","u":{"_id":"u%d"}},"clid":"w%d-%d"}`, i, w, w, w, i)
				res := srv.do("POST", room+"/events", body)
				if res.Status != http.StatusCreated {
					t.Errorf("append: %d %s", res.Status, res.Body)
					return
				}
				if i == 0 { // a retry gets the same event back with 200
					again := srv.do("POST", room+"/events", body)
					if again.Status != http.StatusOK || !bytes.Equal(stripLeaf(again.Body), stripLeaf(res.Body)) {
						t.Errorf("retry: %d %s", again.Status, again.Body)
					}
				}
				var e event
				if err := json.Unmarshal(res.Body, &e); err != nil {
					t.Error(err)
					return
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
	var all []event
	next := ""
	for pages := 0; ; pages++ {
		q := "?limit=7"
		if next != "" {
			q += "&after=" + url.QueryEscape(next)
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
			Next   string            `json:"next"`
		}
		srv.do("GET", room+"/events"+q, nil).must(t, http.StatusOK).decode(t, &page)
		for _, raw := range page.Events {
			var e event
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			checkHash(t, raw)
			all = append(all, e)
		}
		if page.Next == "" {
			break
		}
		next = page.Next
		if pages > 100 {
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

	// Edit a message, then delete another.
	target := all[10]
	up := srv.do("PATCH", room+"/events/"+target.ID, `{"set":{"msg":"edited","meta.edited":true},"unset":["u"]}`).must(t, http.StatusCreated)
	var upd event
	up.decode(t, &upd)
	checkHash(t, up.Body)
	if upd.T != "event.update" {
		t.Errorf("update event type %s", upd.T)
	}
	got := srv.do("GET", room+"/events/"+target.ID, nil).must(t, http.StatusOK)
	var edited event
	got.decode(t, &edited)
	checkHash(t, got.Body)
	if string(edited.D) != `{"meta":{"edited":true},"msg":"edited"}` || string(edited.O) != string(target.O) {
		t.Errorf("after edit: o %s d %s", edited.O, edited.D)
	}
	victim := all[20]
	del := srv.do("DELETE", room+"/events/"+victim.ID, nil).must(t, http.StatusCreated)
	checkHash(t, del.Body)
	gone := srv.do("GET", room+"/events/"+victim.ID, nil).must(t, http.StatusOK)
	var deleted event
	gone.decode(t, &deleted)
	checkHash(t, gone.Body) // the chain still verifies without o
	if deleted.DeletedAt == nil || deleted.O != nil || deleted.D != nil {
		t.Errorf("after delete: %s", gone.Body)
	}
	srv.do("DELETE", room+"/events/"+victim.ID, nil).must(t, http.StatusGone)
	srv.do("PATCH", room+"/events/"+victim.ID, `{"set":{"msg":"x"}}`).must(t, http.StatusGone)

	// Leaves: what the summary says, each flagged as a leaf when read.
	var leaves struct {
		Leaves []string `json:"leaves"`
	}
	srv.do("GET", room+"/leaves", nil).must(t, http.StatusOK).decode(t, &leaves)
	var sum struct {
		Leaves []string `json:"leaves"`
		Count  int      `json:"count"`
	}
	srv.do("GET", room, nil).must(t, http.StatusOK).decode(t, &sum)
	if !slices.Equal(leaves.Leaves, sum.Leaves) || len(leaves.Leaves) == 0 {
		t.Errorf("leaves %v, summary %v", leaves.Leaves, sum.Leaves)
	}
	if sum.Count != 1+writers*perWriter+2 {
		t.Errorf("count %d", sum.Count)
	}
	for _, id := range leaves.Leaves {
		var e event
		srv.do("GET", room+"/events/"+id, nil).must(t, http.StatusOK).decode(t, &e)
		if !e.IsLeaf {
			t.Errorf("leaf %s read without isLeaf", id)
		}
	}
	var g event
	srv.do("GET", room+"/events/"+genesis.ID, nil).must(t, http.StatusOK).decode(t, &g)
	if g.IsLeaf {
		t.Error("genesis reads as a leaf")
	}
	var report struct {
		Clean    bool `json:"clean"`
		Events   int  `json:"events"`
		Redacted int  `json:"redacted"`
	}
	srv.do("GET", room+"/verify", nil).must(t, http.StatusOK).decode(t, &report)
	if !report.Clean || report.Events != sum.Count || report.Redacted != 1 {
		t.Errorf("verify report %+v", report)
	}
	srv.do("GET", "/api/v1/contexts/room/nope/verify", nil).must(t, http.StatusNotFound)
}

// TestPeriodicAudit: with --audit-interval the server audits itself and
// says so in its metrics.
func TestPeriodicAudit(t *testing.T) {
	srv := startServer(t, nil, "--audit-interval", "100ms")
	srv.do("POST", "/api/v1/contexts/room/a", `{}`).must(t, http.StatusCreated)
	srv.do("POST", "/api/v1/contexts/room/a/events", `{"t":"msg"}`).must(t, http.StatusCreated)
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
	var g event
	srv.do("POST", room, `{"o":{"name":"r1"}}`).must(t, http.StatusCreated).decode(t, &g)
	var m event
	srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"hi"}}`).must(t, http.StatusCreated).decode(t, &m)
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
// may move) and every event, as JSON.
func snapshot(t *testing.T, srv *testServer, room string) string {
	t.Helper()
	var sum map[string]any
	srv.do("GET", room, nil).must(t, http.StatusOK).decode(t, &sum)
	delete(sum, "version")
	list := srv.do("GET", room+"/events?limit=1000", nil).must(t, http.StatusOK)
	s, _ := json.Marshal(sum)
	return string(s) + string(bytes.TrimSpace(list.Body))
}

var _ = io.Discard
