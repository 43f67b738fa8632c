package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore/api"
)

func TestReadyz(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ready  error
		status int
		body   string
	}{
		{"ready", nil, http.StatusOK, `"ready"`},
		{"database down", errors.New("server selection timeout"), http.StatusServiceUnavailable, `"code":"unavailable"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := api.New(api.Config{Ready: func(context.Context) error { return tt.ready }})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestParseToken(t *testing.T) {
	for _, tt := range []struct {
		in    string
		scope api.Scope
		ok    bool
	}{
		{"read:0123456789abcdef", api.ScopeRead, true},
		{"admin:0123456789abcdef:with:colons", api.ScopeAdmin, true},
		{"write:short", 0, false},
		{"root:0123456789abcdef", 0, false},
		{"0123456789abcdef", 0, false},
	} {
		tok, err := api.ParseToken(tt.in)
		if (err == nil) != tt.ok || tok.Scope != tt.scope {
			t.Errorf("%q: %+v %v", tt.in, tok, err)
		}
	}
}
