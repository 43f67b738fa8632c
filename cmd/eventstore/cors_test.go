package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestCORS: pages of the allowed origins (exact, or by pattern) get
// preflights answered and the answers marked for them, on the client API
// and the streams; other origins are refused with a problem and nothing is
// stored; federation and /metrics never carry CORS headers; the gateway
// accepts upgrades from the same origins and refuses others.
func TestCORS(t *testing.T) {
	srv := startServer(t, nil, "--cors-origins", "http://app.test:3000", "--cors-origins", "https://*.example.com")
	const room = "/api/v1/contexts/room/cors"
	srv.do("POST", room, `{}`).must(t, http.StatusCreated)
	preflight := func(origin, path string) *response {
		return srv.do("OPTIONS", path, nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type")
	}
	for _, origin := range []string{"http://app.test:3000", "https://chat.example.com", "https://a.b.example.com"} {
		r := preflight(origin, room+"/events")
		h := r.Header
		if r.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Last-Event-ID") || h.Get("Access-Control-Max-Age") == "" {
			t.Errorf("preflight from %s: %d %v", origin, r.Status, h)
		}
	}
	for _, origin := range []string{"http://evil.test", "http://chat.example.com", "https://example.com", "https://chat.example.com:8443", "http://app.test:3001"} {
		r := preflight(origin, room+"/events")
		if r.Status != http.StatusForbidden || r.Problem.Code != "forbidden" || !strings.Contains(r.Problem.Detail, "--cors-origins") ||
			r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %s %v", origin, r.Status, r.Body, r.Header)
		}
	}
	count := func() string { return string(srv.do("GET", room, nil).must(t, http.StatusOK).Body) }
	before := count()
	refused := srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"from a page not allowed"}}`, "Origin", "http://evil.test")
	if refused.Status != http.StatusForbidden {
		t.Errorf("append from an origin not allowed: %d %s", refused.Status, refused.Body)
	}
	if after := count(); after != before {
		t.Errorf("an append from an origin not allowed changed the room:\n%s\n%s", before, after)
	}
	ok := srv.do("POST", room+"/events", `{"t":"msg","o":{"msg":"hi"}}`, "Origin", "https://chat.example.com").must(t, http.StatusCreated)
	if ok.Header.Get("Access-Control-Allow-Origin") != "https://chat.example.com" || !strings.Contains(ok.Header.Get("Access-Control-Expose-Headers"), "Retry-After") ||
		!strings.Contains(ok.Header.Get("Vary"), "Origin") {
		t.Errorf("append from an allowed origin: %v", ok.Header)
	}
	// The server's own origin needs no configuration.
	srv.do("POST", room+"/events", `{"t":"msg"}`, "Origin", srv.URL).must(t, http.StatusCreated)
	for _, path := range []string{"/metrics", "/_federation/v1/keys"} {
		if r := srv.do("GET", path, nil, "Origin", "https://chat.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s is cross-origin: %v", path, r.Header)
		}
	}

	ws := strings.Replace(srv.URL, "http", "ws", 1) + "/api/v1/gateway"
	dial := func(origin string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, res, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil {
			c.CloseNow()
		}
		return res, err
	}
	if _, err := dial("https://chat.example.com"); err != nil {
		t.Errorf("gateway from an allowed origin: %v", err)
	}
	if res, err := dial("http://evil.test"); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("gateway from an origin not allowed: %v %v", res, err)
	}
}

// TestCORSDefault: without --cors-origins no other origin gets in, and a
// malformed origin stops the server at start with a clear error.
func TestCORSDefault(t *testing.T) {
	srv := startServer(t, nil)
	r := srv.do("OPTIONS", "/api/v1/contexts/room/x/events", nil, "Origin", "https://chat.example.com", "Access-Control-Request-Method", "POST")
	if r.Status != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without --cors-origins: %d %v", r.Status, r.Header)
	}
	_, stderr, status := runCommand(t, "", "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--cors-origins", "chat.example.com")
	if status == 0 || !strings.Contains(stderr, "--cors-origins") || !strings.Contains(stderr, "scheme://host") {
		t.Errorf("a malformed origin: status %d, %s", status, stderr)
	}
}
