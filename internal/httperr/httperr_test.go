package httperr_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/httperr"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name string
		code eventstore.Code
		want int
	}{
		{name: "invalid", code: eventstore.EINVALID, want: 400},
		{name: "invalid data", code: eventstore.EINVALIDDATA, want: 400},
		{name: "bad cursor", code: eventstore.EBADCURSOR, want: 400},
		{name: "unauthorized", code: eventstore.EUNAUTHORIZED, want: 401},
		{name: "forbidden", code: eventstore.EFORBIDDEN, want: 403},
		{name: "not found", code: eventstore.ENOTFOUND, want: 404},
		{name: "method", code: httperr.EMETHODNOTALLOWED, want: 405},
		{name: "conflict", code: eventstore.ECONFLICT, want: 409},
		{name: "exists", code: eventstore.EEXISTS, want: 409},
		{name: "gone", code: eventstore.EGONE, want: 410},
		{name: "too large", code: eventstore.ETOOLARGE, want: 413},
		{name: "media type", code: httperr.EUNSUPPORTEDMEDIATYPE, want: 415},
		{name: "rate limited", code: eventstore.ERATELIMITED, want: 429},
		{name: "internal", code: eventstore.EINTERNAL, want: 500},
		{name: "unknown", code: "no_such_code", want: 500},
		{name: "unavailable", code: eventstore.EUNAVAILABLE, want: 503},
	}
	for _, tt := range tests {
		if got := httperr.Status(tt.code); got != tt.want {
			t.Errorf("%s: Status(%q) = %d, want %d", tt.name, tt.code, got, tt.want)
		}
	}
}

func TestWriteProblem(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		want   string
		header string // a header the answer must have, "Name: value"
	}{
		{name: "domain error", err: eventstore.Errorf(eventstore.ENOTFOUND, "no event e1"),
			want: `{"type":"about:blank","title":"Not Found","status":404,"detail":"no event e1","code":"not_found","instance":"/x"}` + "\n"},
		{name: "internal errors do not leak", err: errors.New("secret"),
			want: `{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error","code":"internal","instance":"/x"}` + "\n"},
		{name: "unauthorized names the realm", err: eventstore.Errorf(eventstore.EUNAUTHORIZED, "no token"),
			want:   `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"no token","code":"unauthorized","instance":"/x"}` + "\n",
			header: `WWW-Authenticate: Bearer realm="eventstore"`},
		{name: "rate limited asks to retry", err: eventstore.Errorf(eventstore.ERATELIMITED, "slow down"),
			want:   `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"slow down","code":"rate_limited","instance":"/x"}` + "\n",
			header: "Retry-After: 1"},
		{name: "unavailable asks to retry", err: eventstore.Errorf(eventstore.EUNAVAILABLE, "down"),
			want:   `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"down","code":"unavailable","instance":"/x"}` + "\n",
			header: "Retry-After: 1"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		httperr.WriteProblem(rec, httptest.NewRequest(http.MethodGet, "/x", nil), tt.err)
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("%s: body %s, want %s", tt.name, got, tt.want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", tt.name, ct)
		}
		if tt.header != "" {
			name, value, _ := strings.Cut(tt.header, ": ")
			if got := rec.Header().Get(name); got != value {
				t.Errorf("%s: %s: %q, want %q", tt.name, name, got, value)
			}
		}
	}
}

func TestAdapter(t *testing.T) {
	var logged bytes.Buffer
	var counted []eventstore.Code
	a := httperr.Adapter{Log: slog.New(slog.NewTextHandler(&logged, nil)),
		Count: func(code eventstore.Code) { counted = append(counted, code) }}
	serve := func(err error) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		a.Handle(func(w http.ResponseWriter, r *http.Request) error {
			if err == nil {
				w.WriteHeader(http.StatusNoContent)
			}
			return err
		})(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
		return rec
	}
	if rec := serve(nil); rec.Code != http.StatusNoContent || len(counted) != 0 || logged.Len() != 0 {
		t.Fatalf("success: %d, counted %v, logged %q", rec.Code, counted, logged.String())
	}
	if rec := serve(eventstore.Errorf(eventstore.EFORBIDDEN, "no")); rec.Code != http.StatusForbidden || logged.Len() != 0 {
		t.Fatalf("4xx: %d, logged %q", rec.Code, logged.String())
	}
	if rec := serve(errors.New("disk on fire")); rec.Code != http.StatusInternalServerError ||
		!strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "disk on fire") {
		t.Fatalf("5xx: %d, logged %q", rec.Code, logged.String())
	}
	if want := []eventstore.Code{eventstore.EFORBIDDEN, eventstore.EINTERNAL}; !slices.Equal(counted, want) {
		t.Fatalf("counted %v, want %v", counted, want)
	}
}
