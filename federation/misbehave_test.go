package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"

	"github.com/eventstore-go/eventstore/internal/database"
)

// Tests of peers that speak the protocol correctly (their requests signed
// by a key the victim has pinned) and then misbehave. Each asserts the
// refusal, that nothing was stored, and that the victim's audit is clean.

// victimClean fails the test unless n's audit (signatures and d included)
// finds nothing wrong.
func victimClean(t *testing.T, n *node) {
	t.Helper()
	rep, err := n.auditor().Verify(context.Background(), audit.Options{})
	if err != nil || !rep.Clean {
		t.Errorf("%s's audit: %v %+v", n.name, err, rep)
	}
}

// sharedRoom starts a.test and b.test, each with the other's key pinned;
// A creates room/r1 and shares it with B. It returns both, and the room.
func sharedRoom(t *testing.T) (a, b *node, room *state) {
	t.Helper()
	nodes := startNodesPinned(t, true, "a.test", "b.test")
	a, b = nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	return a, b, converge(t, "room", "r1", 30*time.Second, a, b)
}

// signedRaw sends body as is, signed from origin to n with key.
func signedRaw(t *testing.T, key *federation.Key, origin string, n *node, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.url+path, bytes.NewReader(body))
	federation.SignRequest(req, key, origin, n.name, body, time.Now())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// TestMalformedBodiesAre4xx: every federation endpoint answers bad input
// from an authenticated peer with a 4xx naming the problem, never a 500.
func TestMalformedBodiesAre4xx(t *testing.T) {
	a, b, before := sharedRoom(t)
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	bodies := map[string]string{
		"empty object":  `{}`,
		"null":          `null`,
		"deep nesting":  deep,
		"trailing data": `{"event":{}} x`,
		"not JSON":      `<xml/>`,
		"empty event":   `{"event":{}}`,
		"null event":    `{"event":null}`,
		"event string":  `{"event":"x"}`,
		"array":         `[1,2]`,
		"events null":   `{"origin":"a.test","events":null,"want":null}`,
		"wrong types":   `{"origin":1,"events":"x","want":"x","have":1,"limit":"x"}`,
	}
	paths := []struct{ method, path string }{
		{"POST", federation.Prefix + "/contexts/room/r1/invite"},
		{"POST", federation.Prefix + "/contexts/room/new/invite"},
		{"PUT", federation.Prefix + "/send/malformed-"},
		{"POST", federation.Prefix + "/contexts/room/r1/missing"},
	}
	i := 0
	for _, p := range paths {
		for name, body := range bodies {
			i++
			path := p.path
			if strings.HasSuffix(path, "-") {
				path += string(rune('a'+i%26)) + name[:1] + strings.Repeat("x", i)
			}
			status, raw := signedRaw(t, a.keys.Current, "a.test", b, p.method, path, []byte(body))
			if status < 400 || status >= 500 {
				if !(status == 200 && p.method == "PUT" && (name == "empty object" || name == "events null")) { // an empty transaction is valid
					t.Errorf("%s %s with %s: status %d: %.200s", p.method, p.path, name, status, raw)
				}
			}
		}
	}
	// A missing-events request naming more ids than a server ever asks for.
	many := make([]string, federation.MaxWanted+1)
	for i := range many {
		many[i] = strings.Repeat("0", 63) + "1"
	}
	if status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "POST", federation.Prefix+"/contexts/room/r1/missing",
		map[string]any{"want": many}, nil); status != http.StatusBadRequest || !strings.Contains(string(raw), "at most") {
		t.Errorf("want of %d ids: %d %s", len(many), status, raw)
	}
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Errorf("malformed requests changed B")
	}
	if status, _ := b.do("GET", "/api/v1/contexts/room/new", ""); status != http.StatusNotFound {
		t.Errorf("a malformed invite created room/new: %d", status)
	}
	victimClean(t, b)
}

// fromAddress is an HTTP client whose connections come from ip (another
// loopback address: Linux routes all of 127/8 to the loopback device).
func fromAddress(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// TestGarbageDoesNotThrottleAPeer: requests that claim to come from A but
// are not signed by A's key are limited by their source address; A's own
// requests are not charged for them.
func TestGarbageDoesNotThrottleAPeer(t *testing.T) {
	a, b, _ := sharedRoom(t)
	attacker, stranger := fromAddress("127.0.0.2"), mustKey(t)
	statuses := map[int]int{}
	for i := range 600 { // more than A's burst of 400
		body := []byte(fmt.Sprintf(`{"origin":"a.test","events":[],"n":%d}`, i))
		req, _ := http.NewRequest("PUT", b.url+federation.Prefix+fmt.Sprintf("/send/garbage-%d", i), bytes.NewReader(body))
		federation.SignRequest(req, stranger, "a.test", "b.test", body, time.Now())
		res, err := attacker.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses[res.StatusCode]++
	}
	if statuses[http.StatusUnauthorized] == 0 || statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusOK] != 0 {
		t.Errorf("the garbage was answered %v; want 401s, then 429s", statuses)
	}
	// A's genuine requests go through, and so do its events.
	for i := range 20 {
		status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+fmt.Sprintf("/send/genuine-%d", i),
			map[string]any{"origin": "a.test", "events": []any{}}, nil)
		if status != http.StatusOK {
			t.Fatalf("A's request %d after the garbage: %d %s", i, status, raw)
		}
	}
	appendAll(t, "room", "r1", 3, a)
	converge(t, "room", "r1", 30*time.Second, a, b)
	victimClean(t, b)
}

// TestBodiesAreReadOnlyAfterTheHeader: an unsigned request is answered
// before its body is read (the client is still sending it), and a signed
// body trickled slowly is cut off after the body timeout.
func TestBodiesAreReadOnlyAfterTheHeader(t *testing.T) {
	nodes := startNodesPinned(t, true, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	held := make(chan struct{})
	defer close(held)
	body := io.MultiReader(strings.NewReader(`{"origin":"a.test","events":[`), blockUntil(held))
	req, _ := http.NewRequest("PUT", b.url+federation.Prefix+"/send/unsigned", body)
	req.ContentLength = 15 << 20
	start := time.Now()
	res, err := fromAddress("127.0.0.3").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || time.Since(start) > 5*time.Second {
		t.Errorf("unsigned 15 MiB request: %d after %v", res.StatusCode, time.Since(start))
	}

	full := []byte(`{"origin":"a.test","events":[]}`)
	trickle, _ := http.NewRequest("PUT", b.url+federation.Prefix+"/send/trickled", &slowReader{data: full, every: 500 * time.Millisecond})
	trickle.ContentLength = int64(len(full))
	federation.SignRequest(trickle, a.keys.Current, "a.test", "b.test", full, time.Now())
	start = time.Now()
	res, err = fromAddress("127.0.0.4").Do(trickle)
	took := time.Since(start)
	if err == nil {
		res.Body.Close()
	}
	if err == nil && res.StatusCode == http.StatusOK || took > 8*time.Second {
		t.Errorf("trickled body: %v %v after %v; want it cut off after the 2 s body timeout", err, res, took)
	}
	victimClean(t, b)
}

// blockUntil is a reader that blocks until done is closed, then ends.
type blockUntil chan struct{}

func (b blockUntil) Read([]byte) (int, error) { <-b; return 0, io.EOF }

// slowReader hands out one byte of data every so often.
type slowReader struct {
	data  []byte
	every time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.every)
	p[0], s.data = s.data[0], s.data[1:]
	return 1, nil
}

// TestRetiredKeySignsNothingNew: after A's documented key rotation, a
// request signed by its retired key is refused, and so is an event dated
// after the retirement that only the retired key signed; events it signed
// before stay valid.
func TestRetiredKeySignsNothingNew(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	appendAll(t, "room", "r1", 3, a)
	converge(t, "room", "r1", 30*time.Second, a, b)
	retired := a.keys.Current
	a.stop()
	// The rotation, dated ten minutes ago (as if A had rotated then).
	a.keyFile = mustKey(t)
	conn, err := database.Connect(context.Background(), database.Config{DataDir: a.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := federation.LoadKeyring(context.Background(), conn, a.keyFile, time.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	a.start()
	appendAll(t, "room", "r1", 1, a) // B learns of the rotation
	before := converge(t, "room", "r1", 30*time.Second, a, b)

	status, raw := signedCall(t, retired, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/old-key",
		map[string]any{"origin": "a.test", "events": []any{}}, nil)
	if status != http.StatusUnauthorized || !strings.Contains(string(raw), "retired") {
		t.Errorf("a request signed by the retired key: %d %s", status, raw)
	}
	// Dated now, past the retirement and its grace.
	ev := event(t, retired, "a.test", "room", "r1", before.leaves, time.Now().UnixMilli(), `{"msg":"late"}`)
	status, raw = signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/old-key-event",
		map[string]any{"origin": "a.test", "events": wire(t, ev)}, nil)
	var res txnResult
	_ = json.Unmarshal(raw, &res)
	if status != http.StatusOK || len(res.Results) != 1 || res.Results[0].Status != "refused" || !strings.Contains(res.Results[0].Error, "retired") {
		t.Errorf("an event dated after the retirement, signed by the retired key: %d %s", status, raw)
	}
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Errorf("B stored what the retired key signed")
	}
	// (No audit here: the rotation was backdated, so the events the old key
	// signed just before it look, to the audit, signed after it.)
}
