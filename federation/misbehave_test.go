package federation_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/federation"
)

// Tests of peers that speak the protocol correctly (their requests signed
// by a key the victim trusts) and then misbehave. Each asserts the refusal
// and that nothing was stored.

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
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	before := converge(t, "room", "r1", 30*time.Second, a, b)
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
}
