package federation_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/hashing"
)

// signedCall sends a federation request from origin to n, signed with key;
// mutate may change the request after signing.
func signedCall(t *testing.T, key *federation.Key, origin, destination string, n *node, method, path string, body any, mutate func(*http.Request)) (int, []byte) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(method, n.url+path, bytes.NewReader(raw))
	federation.SignRequest(req, key, origin, destination, raw, time.Now())
	if mutate != nil {
		mutate(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// event makes an event of ct/cid from src on top of parents, signed with key.
func event(t testing.TB, key *federation.Key, src, ct, cid string, parents []string, ts int64, o string) *eventstore.Event {
	t.Helper()
	data, err := eventstore.ParseData([]byte(o))
	if err != nil {
		t.Fatal(err)
	}
	canonical := data
	e := &eventstore.Event{Pids: slices.Sorted(slices.Values(parents)), V: 2, TS: ts, Src: src, Ct: ct, Cid: cid, T: "msg", O: data}
	e.DHash, e.ID = hashing.ID(e.Head(), canonical)
	e.Sigs = federation.SignEvent(key, e.ID)
	return e
}

func wire(t testing.TB, events ...*eventstore.Event) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, e := range events {
		raw, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

type txnResult struct {
	Results []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"results"`
}

// TestOutOfOrderDelivery: B receives a child before its parents and
// completes the gap by fetching them from the sender.
func TestOutOfOrderDelivery(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	converge(t, "room", "r1", 30*time.Second, a, b)
	// A's pushes to B are lost while A writes three events.
	a.out.set(func(r *http.Request) error {
		if r.Method == http.MethodPut {
			return fmt.Errorf("dropped")
		}
		return nil
	})
	var chain []*eventstore.Event
	for i := range 3 {
		var e eventstore.Event
		if err := json.Unmarshal(a.must("POST", "/api/v1/contexts/room/r1/events", fmt.Sprintf(`{"t":"msg","o":{"n":%d}}`, i), http.StatusCreated), &e); err != nil {
			t.Fatal(err)
		}
		chain = append(chain, &e)
	}
	// Only the last one reaches B.
	status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/only-the-child",
		map[string]any{"origin": "a.test", "events": wire(t, chain[2])}, nil)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, raw)
	}
	var res txnResult
	_ = json.Unmarshal(raw, &res)
	if len(res.Results) != 1 || res.Results[0].Status != "stored" {
		t.Fatalf("results %s", raw)
	}
	for _, e := range chain {
		b.must("GET", "/api/v1/contexts/room/r1/events/"+e.ID, "", http.StatusOK)
	}
	a.out.set(nil)
	converge(t, "room", "r1", 30*time.Second, a, b)
}

// TestSecurity: every forged, tampered, replayed or unauthorized request
// or event is refused with the right status, and nothing is stored.
func TestSecurity(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b) // C is a peer, but does not take part
	before := converge(t, "room", "r1", 30*time.Second, a, b)
	leaves := before.leaves
	now := time.Now().UnixMilli()
	good := func() *eventstore.Event {
		return event(t, a.keys.Current, "a.test", "room", "r1", leaves, now, `{"msg":"hi"}`)
	}
	send := func(events ...*eventstore.Event) map[string]any {
		return map[string]any{"origin": "a.test", "events": wire(t, events...)}
	}
	stranger, _ := federation.GenerateKey()
	sendPath := func(name string) string { return federation.Prefix + "/send/" + name }
	tests := []struct {
		name       string
		key        *federation.Key
		origin     string
		dest       string
		method     string
		path       string
		body       any
		mutate     func(*http.Request)
		status     int
		eventState string // for 200: the one event's status
	}{
		{"unsigned request", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t1"), send(good()),
			func(r *http.Request) { r.Header.Del("Authorization") }, 401, ""},
		{"bad request signature", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t2"), send(good()),
			func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "sig=", "sig=AA", 1))
			}, 401, ""},
		{"request signed by another server", c.keys.Current, "a.test", "b.test", "PUT", sendPath("t3"), send(good()), nil, 401, ""},
		{"body changed after signing", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t4"), send(good()),
			func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(`{"origin":"a.test","events":[]}`))
				r.ContentLength = -1
			}, 401, ""},
		{"misaddressed request", a.keys.Current, "a.test", "c.test", "PUT", sendPath("t5"), send(good()), nil, 401, ""},
		{"unknown server", stranger, "x.test", "b.test", "PUT", sendPath("t6"), send(good()), nil, 401, ""},
		{"non-participant reading", c.keys.Current, "c.test", "b.test", "GET", federation.Prefix + "/contexts/room/r1/events", nil, nil, 403, ""},
		{"non-participant asking for events", c.keys.Current, "c.test", "b.test", "POST", federation.Prefix + "/contexts/room/r1/missing",
			map[string]any{"want": leaves}, nil, 403, ""},
		{"non-participant pushing", c.keys.Current, "c.test", "b.test", "PUT", sendPath("t7"),
			map[string]any{"origin": "c.test", "events": wire(t, event(t, c.keys.Current, "c.test", "room", "r1", leaves, now, `{}`))}, nil, 403, ""},
		{"more than 100 events", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t8"),
			func() any {
				var events []*eventstore.Event
				for i := range 101 {
					events = append(events, event(t, a.keys.Current, "a.test", "room", "r1", leaves, now+int64(i), `{}`))
				}
				return send(events...)
			}(), nil, 400, ""},
		{"forged src: an event of a.test signed by c.test", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t10"),
			send(event(t, c.keys.Current, "a.test", "room", "r1", leaves, now, `{}`)), nil, 200, "refused"},
		{"bad event signature", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t11"),
			send(func() *eventstore.Event {
				e := good()
				for k := range e.Sigs {
					e.Sigs[k] = base64.RawURLEncoding.EncodeToString(make([]byte, 64))
				}
				return e
			}()), nil, 200, "refused"},
		{"o tampered after signing", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t12"),
			send(func() *eventstore.Event {
				e := good()
				e.O, _ = eventstore.ParseData([]byte(`{"msg":"forged"}`))
				return e
			}()), nil, 200, "refused"},
		{"pids tampered after signing", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t13"),
			send(func() *eventstore.Event {
				e := good()
				e.Pids = []string{strings.Repeat("0", 64)}
				return e
			}()), nil, 200, "refused"},
		{"oversized event", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t14"),
			func() any {
				// Hashed and signed over its real data, which is over 64 KiB.
				big := `{"msg":"` + strings.Repeat("x", 70000) + `"}`
				e := good()
				e.DHash = hashing.DataHash([]byte(big))
				e.ID = hashing.EventID(e.Head())
				e.Sigs = federation.SignEvent(a.keys.Current, e.ID)
				raw := wire(t, e)[0]
				raw = bytes.Replace(raw, []byte(`"o":{"msg":"hi"}`), []byte(`"o":`+big), 1)
				return map[string]any{"origin": "a.test", "events": []json.RawMessage{raw}}
			}(), nil, 200, "refused"},
		{"event from a server that does not take part", a.keys.Current, "a.test", "b.test", "PUT", sendPath("t15"),
			send(event(t, c.keys.Current, "c.test", "room", "r1", leaves, now, `{}`)), nil, 200, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, raw := signedCall(t, tt.key, tt.origin, tt.dest, b, tt.method, tt.path, tt.body, tt.mutate)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			if tt.eventState != "" {
				var res txnResult
				_ = json.Unmarshal(raw, &res)
				if len(res.Results) != 1 || res.Results[0].Status != tt.eventState {
					t.Fatalf("results %s, want %s", raw, tt.eventState)
				}
			}
		})
	}
	t.Run("replayed request", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"origin": "a.test", "events": []any{}})
		req, _ := http.NewRequest("PUT", b.url+sendPath("t20"), bytes.NewReader(body))
		federation.SignRequest(req, a.keys.Current, "a.test", "b.test", body, time.Now())
		auth := req.Header.Get("Authorization")
		for i, want := range []int{200, 401} {
			r, _ := http.NewRequest("PUT", b.url+sendPath("t20"), bytes.NewReader(body))
			r.Header.Set("Authorization", auth)
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Fatalf("attempt %d: status %d, want %d", i, res.StatusCode, want)
			}
		}
	})
	t.Run("stale request", func(t *testing.T) {
		body, _ := json.Marshal(map[string]any{"origin": "a.test", "events": []any{}})
		req, _ := http.NewRequest("PUT", b.url+sendPath("t21"), bytes.NewReader(body))
		federation.SignRequest(req, a.keys.Current, "a.test", "b.test", body, time.Now().Add(-2*time.Minute))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Errorf("refused requests changed B: %d events before, %d after", len(before.events), len(after.events))
	}
}
