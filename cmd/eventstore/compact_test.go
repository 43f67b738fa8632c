package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func runCompact(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"eventstore", "compact", "--log-level", "error", "--server-name", "a.example"}, args...),
		func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	status := exitStatus(err, &stderr)
	return stdout.String() + stderr.String(), status
}

// TestCompactCommand: eventstore compact on a stopped server's embedded
// store folds, then rewrites the file, saying how big it was before and
// after; the store audits clean after it.
func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, dir, nil)
	out, status := runCompact(t, "--data", dir, "--storage=false")
	if status != 0 || !strings.Contains(out, "folded") || strings.Contains(out, "storage") {
		t.Fatalf("compact --storage=false: status %d\n%s", status, out)
	}
	out, status = runCompact(t, "--data", dir)
	m := regexp.MustCompile(`compacted the storage in \S+: ([0-9.]+) MiB before, ([0-9.]+) MiB after`).FindStringSubmatch(out)
	if status != 0 || m == nil {
		t.Fatalf("compact: status %d, want 0 and the storage's size before and after\n%s", status, out)
	}
	before, _ := strconv.ParseFloat(m[1], 64)
	after, _ := strconv.ParseFloat(m[2], 64)
	if after <= 0 || after > before {
		t.Errorf("storage %v MiB before and %v after", before, after)
	}
	if out, status := runVerify(t, "--data", dir); status != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("verify after compact: status %d\n%s", status, out)
	}
}

// TestServeCompactsStorage: with --compact-storage-interval a server
// compacts its storage that often while it grows, saying so, while appends
// go on and nothing appended is lost; idle, it leaves it alone.
func TestServeCompactsStorage(t *testing.T) {
	srv := startServer(t, nil, "--compact-storage-interval", "200ms")
	srv.do("POST", "/api/v1/contexts/room/vac", `{}`).must(t, http.StatusCreated)
	deadline := time.Now().Add(30 * time.Second)
	appended := 0
	for strings.Count(srv.Log.String(), `"msg":"storage compacted"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two storage compactions logged within 30 s:\n%s", srv.Log.String())
		}
		srv.do("POST", "/api/v1/contexts/room/vac/events", map[string]any{"t": "msg", "o": map[string]any{"n": appended}, "clid": fmt.Sprintf("c%d", appended)}).must(t, http.StatusCreated)
		appended++
		time.Sleep(10 * time.Millisecond)
	}
	// Idle, the store does not grow, and its storage is left alone.
	time.Sleep(time.Second) // the last appends' log reaches the file
	compactions := strings.Count(srv.Log.String(), `"msg":"storage compacted"`)
	time.Sleep(2 * time.Second) // ten intervals
	if n := strings.Count(srv.Log.String(), `"msg":"storage compacted"`); n != compactions {
		t.Errorf("an idle server compacted its storage %d times in ten intervals", n-compactions)
	}
	if !strings.Contains(srv.Log.String(), `"bytesAfter":`) {
		t.Errorf("the log does not say the storage's size after:\n%s", srv.Log.String())
	}
	var summary struct {
		Count int `json:"count"`
	}
	srv.do("GET", "/api/v1/contexts/room/vac", nil).must(t, http.StatusOK).decode(t, &summary)
	if summary.Count != appended+1 {
		t.Errorf("the room has %d events after %d appends and its creation", summary.Count, appended)
	}
}
