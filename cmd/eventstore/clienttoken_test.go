package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientTokens: a client token minted by eventstore token reads and
// writes only the rooms it names, never admin calls; its stream (token in
// the query, as EventSource needs) ends when it expires; an expired or
// foreign token is refused.
func TestClientTokens(t *testing.T) {
	const admin, secret = "admin0123456789abcdef", "client-secret-of-at-least-32-bytes!"
	srv := startServer(t, nil, "--token", "admin:"+admin, "--client-token-key", "hmac:"+secret)
	srv.Token = admin
	for _, room := range []string{"general", "secret"} {
		srv.do("POST", "/api/v1/contexts/room/"+room, `{}`).must(t, http.StatusCreated)
	}
	srv.do("POST", "/api/v1/contexts/room/secret/events", `{"t":"msg","o":{"msg":"for admins"}}`).must(t, http.StatusCreated)
	mint := func(ttl string, key string, rights ...string) string {
		t.Helper()
		out, stderr, status := runCommand(t, "", append([]string{"token", "--client-token-key", "hmac:" + key, "--sub", "alice", "--ttl", ttl}, rights...)...)
		if status != 0 {
			t.Fatalf("eventstore token: %d %s", status, stderr)
		}
		return strings.TrimSpace(out)
	}
	srv.Token = mint("1h", secret, "--read", "room/general", "--write", "room/general")
	srv.do("GET", "/api/v1/contexts/room/general/events", nil).must(t, http.StatusOK)
	srv.do("POST", "/api/v1/contexts/room/general/events", `{"t":"msg","o":{"msg":"hi"}}`).must(t, http.StatusCreated)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/contexts/room/secret/events", ""},
		{"GET", "/api/v1/contexts/room/secret", ""},
		{"POST", "/api/v1/contexts/room/secret/events", `{"t":"msg","o":{"msg":"sneaky"}}`},
		{"POST", "/api/v1/contexts/room/other", `{}`},
		{"GET", "/api/v1/stream?ct=room", ""},
		{"GET", "/api/v1/stream", ""},
		{"GET", "/metrics", ""},
		{"POST", "/api/v1/contexts/room/general/servers", `{"server":"b.test"}`},
		{"GET", "/api/v1/federation/status", ""},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		if res := srv.do(c.method, c.path, body); res.Status != http.StatusForbidden || res.Problem.Code != "forbidden" {
			t.Errorf("%s %s with a client token for room/general: %d %s", c.method, c.path, res.Status, res.Body)
		}
	}
	readOnly := mint("1h", secret, "--read", "room/general")
	if res := srv.do("POST", "/api/v1/contexts/room/general/events", `{"t":"msg"}`, "Authorization", "Bearer "+readOnly); res.Status != http.StatusForbidden {
		t.Errorf("a read-only client token wrote: %d %s", res.Status, res.Body)
	}
	srv.Token = admin
	var sum struct{ Count int }
	srv.do("GET", "/api/v1/contexts/room/secret", nil).must(t, http.StatusOK).decode(t, &sum)
	if sum.Count != 2 {
		t.Errorf("room/secret has %d events, want 2 (nothing stored by refused calls)", sum.Count)
	}
	if res := srv.do("GET", "/api/v1/contexts/room/other", nil); res.Status != http.StatusNotFound {
		t.Errorf("room/other was created: %d", res.Status)
	}

	// The stream, with the token in the query, ends when the token does.
	short := mint("2s", secret, "--read", "room/general")
	start := time.Now()
	res, err := http.Get(srv.URL + "/api/v1/contexts/room/general/stream?from=start&access_token=" + short)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream with a client token: %d", res.StatusCode)
	}
	events := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: {") {
			events++
		}
	}
	res.Body.Close()
	if took := time.Since(start); took < time.Second || took > 10*time.Second || events != 2 {
		t.Errorf("the stream gave %d events and ended after %v; want the room's 2, ending when the 2 s token expired", events, took)
	}
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	for name, tok := range map[string]string{"expired": short, "signed with another secret": mint("1h", strings.Repeat("x", 40), "--read", "room/general")} {
		if res := srv.do("GET", "/api/v1/contexts/room/general/events", nil, "Authorization", "Bearer "+tok); res.Status != http.StatusUnauthorized {
			t.Errorf("%s client token: %d %s", name, res.Status, res.Body)
		}
	}
}
