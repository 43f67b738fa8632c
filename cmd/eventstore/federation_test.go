package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/federation"
)

// TestFederationStatusCommand: a server whose peer is down shows it
// failing, with a backlog, in "eventstore federation status"; the command
// needs an admin token when the server has tokens.
func TestFederationStatusCommand(t *testing.T) {
	// A peer that answers every request with 503. (Not a closed port: under
	// load another test's server may take it over.)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()

	const admin, writer = "admin0123456789abcdef", "write0123456789abcdef"
	srv := startServer(t, nil, "--server-name", "a.test", "--peer", "b.test="+down.URL,
		"--token", "admin:"+admin, "--token", "write:"+writer)
	srv.Token = admin
	srv.do("POST", "/api/v1/contexts/room/r1", `{}`).must(t, http.StatusCreated)
	srv.do("POST", "/api/v1/contexts/room/r1/servers", `{"server":"b.test"}`).must(t, http.StatusCreated)
	srv.do("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"text":"hi"}}`).must(t, http.StatusCreated)

	var table string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, stderr, status := runCommand(t, "", "federation", "status", "--url", srv.URL, "--token", admin)
		if status != 0 {
			t.Fatalf("status %d: %s", status, stderr)
		}
		if table = out; strings.Contains(out, "failing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer never shown failing:\n%s", out)
		}
	}
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PEER") || !strings.HasPrefix(lines[1], "b.test") ||
		lines[3] != "b.test answered 503: down for maintenance" {
		t.Fatalf("table:\n%s", table)
	}
	if fields := strings.Fields(lines[1]); len(fields) < 3 || fields[len(fields)-1] != "0" {
		t.Errorf("events sent to a down peer: %q", lines[1])
	}

	out, stderr, status := runCommand(t, "", "federation", "status", "--url", srv.URL, "--token", admin, "--json")
	if status != 0 {
		t.Fatalf("--json: status %d: %s", status, stderr)
	}
	var body struct{ Peers []federation.PeerStatus }
	if err := json.Unmarshal([]byte(out), &body); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if len(body.Peers) != 1 || body.Peers[0].Peer != "b.test" || !body.Peers[0].Failing ||
		body.Peers[0].OutboxVersions < 1 || body.Peers[0].Retries < 1 {
		t.Errorf("--json: %+v", body.Peers)
	}

	// A write token is not enough; the error says so and the exit status is 1.
	_, stderr, status = runCommand(t, "", "federation", "status", "--url", srv.URL, "--token", writer)
	if status != 1 || !strings.Contains(stderr, "403") || !strings.Contains(stderr, "admin") {
		t.Errorf("with a write token: status %d, stderr %q", status, stderr)
	}
}
