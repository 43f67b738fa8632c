package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
)

// lockedBuffer is a bytes.Buffer a running command writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAppendGetList: append prints the stored event (and a clid again
// prints the same one), get prints it, list prints the room's events
// oldest or newest first; a bad context or a server's refusal is a clear
// error with a non-zero status.
func TestAppendGetList(t *testing.T) {
	srv := startServer(t, nil)
	srv.do("POST", "/api/v1/contexts/room/cli", `{}`).must(t, http.StatusCreated)
	eventOf := func(out string) map[string]any {
		t.Helper()
		var e map[string]any
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("not an event: %q: %v", out, err)
		}
		return e
	}
	out, stderr, status := runCommand(t, "", "append", "room/cli", "--server", srv.URL, "--o", `{"msg":"one"}`, "--clid", "c1")
	if status != 0 {
		t.Fatalf("append: status %d: %s", status, stderr)
	}
	first := eventOf(out)
	again, _, _ := runCommand(t, "", "append", "room/cli", "--server", srv.URL, "--o", `{"msg":"one"}`, "--clid", "c1")
	if eventOf(again)["_id"] != first["_id"] {
		t.Errorf("append with the same clid printed %v, want the first event %v", eventOf(again)["_id"], first["_id"])
	}
	runCommand(t, "", "append", "room/cli", "--server", srv.URL, "--o", `{"msg":"two"}`)
	out, _, status = runCommand(t, "", "get", "room/cli", first["_id"].(string), "--server", srv.URL)
	if status != 0 || eventOf(out)["_id"] != first["_id"] {
		t.Errorf("get: status %d, %s", status, out)
	}
	texts := func(out string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if d, ok := eventOf(line)["d"].(map[string]any); ok {
				got = append(got, d["msg"].(string))
			}
		}
		return got
	}
	out, _, _ = runCommand(t, "", "list", "room/cli", "--server", srv.URL, "--t", "msg")
	if got := texts(out); strings.Join(got, ",") != "one,two" {
		t.Errorf("list: %v, want one, two", got)
	}
	out, stderr, _ = runCommand(t, "", "list", "room/cli", "--server", srv.URL, "--t", "msg", "--dir", "b", "--limit", "1")
	if got := texts(out); strings.Join(got, ",") != "two" || !strings.HasPrefix(stderr, "next: ") {
		t.Errorf("list --dir b --limit 1: %v and %q, want two and a next cursor", got, stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"append", "nocontext", "--server", srv.URL}, "ct/cid"},
		{[]string{"append", "room/missing", "--server", srv.URL}, "not_found"},
		{[]string{"append", "room/cli", "--server", srv.URL, "--o", "{"}, "not JSON"},
		{[]string{"get", "room/cli", "nope", "--server", srv.URL}, "invalid"},
	} {
		_, stderr, status := runCommand(t, "", tc.args...)
		if status == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: status %d, stderr %q; want a failure naming %q", tc.args, status, stderr, tc.want)
		}
	}
}

// TestTailShowsAppend: eventstore tail shows a message appended by
// eventstore append within a second, as a JSON line (its output is not a
// terminal), and ends cleanly when interrupted.
func TestTailShowsAppend(t *testing.T) {
	srv := startServer(t, nil)
	srv.do("POST", "/api/v1/contexts/room/general", `{}`).must(t, http.StatusCreated)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"eventstore", "tail", "room/general", "--server", srv.URL}, func(string) string { return "" },
			strings.NewReader(""), &stdout, &stderr)
	}()
	// The stream is open once the server has it (the caught-up marker is
	// not printed off a terminal): wait for the subscriber to show in the
	// metrics.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(string(srv.do("GET", "/metrics", nil).Body), `eventstore_streams_open{transport="sse"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("tail did not open its stream; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, errOut, status := runCommand(t, "", "append", "room/general", "--server", srv.URL, "--o", `{"msg":"hello from the cli"}`)
	if status != 0 {
		t.Fatalf("append: %s", errOut)
	}
	appended := time.Now()
	var id struct {
		ID string `json:"_id"`
	}
	_ = json.Unmarshal([]byte(out), &id)
	for !strings.Contains(stdout.String(), id.ID) {
		if time.Since(appended) > time.Second {
			t.Fatalf("tail did not show the appended event within a second; it printed %q, stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "hello from the cli") {
		t.Errorf("tail's line lacks the message: %q", stdout.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail ended with %v when interrupted, want nil", err)
	}
}

// TestEventLine: a terminal line is the time, origin, type and the
// message (d.msg or d.text, else d as JSON), cut to 100 characters.
func TestEventLine(t *testing.T) {
	doc := func(v any) []byte {
		raw, err := json.Marshal(v) // canonical for these: keys sorted, no numbers
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, tc := range []struct {
		e    eventstore.Event
		want string
	}{
		{eventstore.Event{Src: "a.example", T: "msg", D: doc(map[string]any{"msg": "hello", "u": "alice"})}, "  a.example  msg  hello"},
		{eventstore.Event{Src: "b.example", T: "topic", D: doc(map[string]any{"topic": "release"})}, `  b.example  topic  {"topic":"release"}`},
		{eventstore.Event{Src: "a.example", T: "msg", Deleted: true}, "  a.example  msg  (deleted)"},
	} {
		if got := eventLine(&tc.e); !strings.HasSuffix(got, tc.want) {
			t.Errorf("eventLine = %q, want it to end %q", got, tc.want)
		}
	}
	long := strings.Repeat("é", 150)
	if got := cut(long, 100); len([]rune(got)) != 100 || !strings.HasSuffix(got, "…") {
		t.Errorf("cut to %d runes: %q", len([]rune(got)), got)
	}
	if got := cut("short", 100); got != "short" {
		t.Errorf("cut(short) = %q", got)
	}
}

// TestCallsWithTokens: the calling commands send --token; serve's own
// scope:secret form (EVENTSTORE_TOKEN is shared with serve) is taken as
// its secret; without a token the server's refusal is the error.
func TestCallsWithTokens(t *testing.T) {
	srv := startServer(t, nil, "--token", "write:cli-secret-0123456789")
	srv.Token = "cli-secret-0123456789"
	srv.do("POST", "/api/v1/contexts/room/tok", `{}`).must(t, http.StatusCreated)
	for _, token := range []string{"cli-secret-0123456789", "write:cli-secret-0123456789", "write:cli-secret-0123456789,read:other"} {
		if _, stderr, status := runCommand(t, "", "append", "room/tok", "--server", srv.URL, "--token", token); status != 0 {
			t.Errorf("append with --token %q: status %d: %s", token, status, stderr)
		}
	}
	if _, stderr, status := runCommand(t, "", "append", "room/tok", "--server", srv.URL); status == 0 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("append without a token: status %d, stderr %q; want unauthorized", status, stderr)
	}
}
