package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCommand runs the program in-process with the given stdin and returns
// its stdout, stderr and exit status.
func runCommand(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(string) string { return "" }
	err := run(context.Background(), append([]string{"eventstore"}, args...), getenv, strings.NewReader(stdin), &stdout, &stderr)
	status := exitStatus(err, &stderr)
	return stdout.String(), stderr.String(), status
}

// TestHashReproducesVectors: eventstore hash gives every vector's dHash and
// _id (testdata/vectors.json, docs/hashing.md).
func TestHashReproducesVectors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf struct {
		Vectors []struct {
			Name  string          `json:"name"`
			Event json.RawMessage `json:"event"`
			DHash string          `json:"dHash"`
			ID    string          `json:"_id"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	vectors := vf.Vectors
	if len(vectors) == 0 {
		t.Fatal("testdata/vectors.json: no vectors")
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			stdout, stderr, status := runCommand(t, string(v.Event), "hash")
			if status != 0 {
				t.Fatalf("status %d: %s", status, stderr)
			}
			var got struct {
				DHash string `json:"dHash"`
				ID    string `json:"_id"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("%v: %q", err, stdout)
			}
			if got.DHash != v.DHash || got.ID != v.ID {
				t.Errorf("got %+v, want dHash %s _id %s", got, v.DHash, v.ID)
			}
		})
	}
}

func TestHashRefuses(t *testing.T) {
	const ok = `"src":"a.example","ct":"room","cid":"r1","pids":[],"t":"msg","ts":1`
	tests := []struct {
		name  string
		stdin string
		want  string // in stderr
	}{
		{"not JSON", `{`, "reading the event"},
		{"lone surrogate in o", `{` + ok + `,"o":{"a":"\ud800"}}`, "lone surrogate"},
		{"duplicate member in o", `{` + ok + `,"o":{"a":1,"a":2}}`, "duplicate member"},
		{"unknown field", `{` + ok + `,"o":{},"pid":[]}`, "unknown field"},
		{"bad src", `{"src":"A!","ct":"room","cid":"r1","pids":[],"t":"msg","ts":1,"o":{}}`, "src"},
		{"missing ts", `{"src":"a.example","ct":"room","cid":"r1","pids":[],"t":"msg","o":{}}`, "ts is missing"},
		{"unsorted pids", `{"src":"a.example","ct":"room","cid":"r1","t":"msg","ts":1,"o":{},"pids":["` +
			strings.Repeat("b", 64) + `","` + strings.Repeat("a", 64) + `"]}`, "sorted"},
		{"wrong _id", `{` + ok + `,"o":{},"_id":"` + strings.Repeat("0", 64) + `"}`, "does not match"},
		{"wrong dHash", `{` + ok + `,"o":{},"dHash":"` + strings.Repeat("0", 64) + `"}`, "dHash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, status := runCommand(t, tt.stdin, "hash")
			if status != 1 {
				t.Errorf("status %d, want 1", status)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", stderr, tt.want)
			}
		})
	}
}

// TestHashDeletedEvent: a redacted event has no o; its given dHash still
// lets the _id be recomputed.
func TestHashDeletedEvent(t *testing.T) {
	full := `{"src":"a.example","ct":"room","cid":"r1","pids":[],"t":"msg","ts":5,"o":{"msg":"secret"}}`
	stdout, stderr, status := runCommand(t, full, "hash")
	if status != 0 {
		t.Fatal(stderr)
	}
	var got struct {
		DHash string `json:"dHash"`
		ID    string `json:"_id"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	redacted := `{"_id":"` + got.ID + `","dHash":"` + got.DHash + `","src":"a.example","ct":"room","cid":"r1","pids":[],"t":"msg","ts":5,"v":2,"deletedAt":9}`
	if _, stderr, status := runCommand(t, redacted, "hash"); status != 0 {
		t.Fatalf("redacted event: status %d: %s", status, stderr)
	}
}
