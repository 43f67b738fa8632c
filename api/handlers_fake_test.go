package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/stream"
)

// These tests run the handlers against fakeStore: no database.

// serve sends one request to an API over f and returns the answer.
func serve(t *testing.T, f *fakeStore, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	api.New(api.Config{Store: f, Cursors: stream.NewCursors("a.example")}).ServeHTTP(rec, req)
	return rec
}

// problem decodes a problem+json answer, failing unless it is one with
// the given status.
func problem(t *testing.T, rec *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if p["status"] != float64(status) {
		t.Errorf("problem status %v, want %d", p["status"], status)
	}
	return p
}

// The store's error decides the answer: its code gives the status and the
// problem's code, its message the detail.
func TestFakeAppendStoreError(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   eventstore.Code
		detail string
	}{
		{eventstore.Errorf(eventstore.ECONFLICT, "pids are not the current leaves"), http.StatusConflict, eventstore.ECONFLICT, "pids are not the current leaves"},
		{eventstore.Errorf(eventstore.EINVALID, "clid is too long"), http.StatusBadRequest, eventstore.EINVALID, "clid is too long"},
		{eventstore.Errorf(eventstore.ENOTFOUND, "no context room/r1"), http.StatusNotFound, eventstore.ENOTFOUND, "no context room/r1"},
		{eventstore.Errorf(eventstore.ETOOLARGE, "the event is too large"), http.StatusRequestEntityTooLarge, eventstore.ETOOLARGE, "the event is too large"},
		{eventstore.Errorf(eventstore.EUNAVAILABLE, "the database is away"), http.StatusServiceUnavailable, eventstore.EUNAVAILABLE, "the database is away"},
		// An error without a code is internal, and its text stays here.
		{errors.New("secret cause"), http.StatusInternalServerError, eventstore.EINTERNAL, "internal error"},
	} {
		t.Run(string(tt.code), func(t *testing.T) {
			f := newFakeStore()
			f.appendErr = tt.err
			rec := serve(t, f, "POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"msg":"hi"},"clid":"c1","pids":["p1"]}`)
			p := problem(t, rec, tt.status)
			if p["code"] != string(tt.code) {
				t.Errorf("code %v, want %s", p["code"], tt.code)
			}
			if p["detail"] != tt.detail {
				t.Errorf("detail %v, want %q", p["detail"], tt.detail)
			}
			if rec.Header().Get("Location") != "" {
				t.Errorf("Location %q on a failed append", rec.Header().Get("Location"))
			}
			if calls := f.Calls(); !slices.Equal(calls, []string{"Append room/r1"}) {
				t.Errorf("store calls %q, want one Append", calls)
			}
			in := f.appended[0]
			if in.T != "msg" || in.Clid != "c1" || !slices.Equal(in.ExpectedPids, []string{"p1"}) {
				t.Errorf("Append given %+v", in)
			}
			if o, _ := eventstore.ParseData([]byte(`{"msg":"hi"}`)); !slices.Equal(in.O, o) {
				t.Errorf("Append given o %v, want %v", in.O, o)
			}
		})
	}
}

// A GET of an event the store does not have is a 404 problem, after one
// Get of exactly that event.
func TestFakeGetMissing(t *testing.T) {
	f := newFakeStore(&eventstore.Event{ID: "e1", Ct: "room", Cid: "r1", T: "msg"})
	rec := serve(t, f, "GET", "/api/v1/contexts/room/r1/events/nope", "")
	p := problem(t, rec, http.StatusNotFound)
	if p["code"] != string(eventstore.ENOTFOUND) || p["detail"] != "no event nope in room/r1" {
		t.Errorf("problem %v", p)
	}
	if p["instance"] != "/api/v1/contexts/room/r1/events/nope" {
		t.Errorf("instance %v", p["instance"])
	}
	if calls := f.Calls(); !slices.Equal(calls, []string{"Get room/r1/nope"}) {
		t.Errorf("store calls %q", calls)
	}
}

// A new event is 201 with its JSON and where to read it; reading it there
// gives the same JSON; the same clid again is 200 with the first event.
func TestFakeAppend(t *testing.T) {
	f := newFakeStore()
	rec := serve(t, f, "POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"msg":"hi","n":2},"clid":"c1"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	const where = "/api/v1/contexts/room/r1/events/e1"
	if loc := rec.Header().Get("Location"); loc != where {
		t.Errorf("Location %q, want %q", loc, where)
	}
	want := `{"_id":"e1","clid":"c1","pids":[],"v":` + strconv.Itoa(eventstore.SchemaVersion) +
		`,"ts":1700000000000,"src":"a.example","ct":"room","cid":"r1","t":"msg","dHash":"","o":{"msg":"hi","n":2},"isLeaf":true}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	created := rec.Body.String()
	if in := f.appended[0]; in.ExpectedPids != nil {
		t.Errorf("no pids given, but Append expects %q", in.ExpectedPids)
	}

	rec = serve(t, f, "GET", where, "")
	if rec.Code != http.StatusOK || rec.Body.String() != created {
		t.Errorf("GET %s: %d %s, want 200 %s", where, rec.Code, rec.Body, created)
	}
	rec = serve(t, f, "POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"msg":"again"},"clid":"c1"}`)
	if rec.Code != http.StatusOK || rec.Body.String() != created || rec.Header().Get("Location") != where {
		t.Errorf("same clid: %d %q %s, want 200 %q %s", rec.Code, rec.Header().Get("Location"), rec.Body, where, created)
	}
	if calls := f.Calls(); !slices.Equal(calls, []string{"Append room/r1", "Get room/r1/e1", "Append room/r1"}) {
		t.Errorf("store calls %q", calls)
	}
}
