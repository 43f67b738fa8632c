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
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
	"github.com/eventstore-go/eventstore/store"
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
	conn, err := store.Connect(context.Background(), store.ConnConfig{DataDir: a.dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := federation.LoadKeyring(context.Background(), conn.DB, a.keyFile, time.Now().Add(-10*time.Minute)); err != nil {
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

// TestFarFutureEventsAreRefused: an event dated more than the allowed skew
// ahead of the receiver's clock is refused (it would drag the ts of every
// later local event there); one within the skew is stored.
func TestFarFutureEventsAreRefused(t *testing.T) {
	a, b, before := sharedRoom(t)
	push := func(name string, ts time.Time) txnResult {
		t.Helper()
		e := event(t, a.keys.Current, "a.test", "room", "r1", before.leaves, ts.UnixMilli(), `{"msg":"`+name+`"}`)
		status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/"+name,
			map[string]any{"origin": "a.test", "events": wire(t, e)}, nil)
		var res txnResult
		if err := json.Unmarshal(raw, &res); status != http.StatusOK || err != nil || len(res.Results) != 1 {
			t.Fatalf("%s: %d %s", name, status, raw)
		}
		return res
	}
	if res := push("ten-years-ahead", time.Now().AddDate(10, 0, 0)); res.Results[0].Status != "refused" || !strings.Contains(res.Results[0].Error, "ahead") {
		t.Errorf("an event ten years ahead: %+v", res.Results[0])
	}
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Fatal("B stored the far-future event")
	}
	if res := push("a-minute-ahead", time.Now().Add(time.Minute)); res.Results[0].Status != "stored" {
		t.Errorf("an event a minute ahead: %+v", res.Results[0])
	}
	victimClean(t, b)
}

// TestPendingEventsAreBounded: a participant pushing events whose parents
// never come gets only so many kept pending (per peer, per room: beyond,
// "retry" and a refusal counted); each keeps its first arrival however
// often it is sent again, and is dropped once it is older than a day.
func TestPendingEventsAreBounded(t *testing.T) {
	a, b, before := sharedRoom(t)
	var offset atomic.Int64 // b's clock, moved on by the test
	b.stop()
	b.configure = func(c *federation.Config) {
		c.MaxPendingPerPeer, c.MaxPendingPerRoom = 5, 8
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}
	b.start()
	var orphans []*eventstore.Event
	for i := range 8 {
		ghost := fmt.Sprintf("%064x", 0xdead0000+i) // a parent nobody has
		orphans = append(orphans, event(t, a.keys.Current, "a.test", "room", "r1", []string{ghost}, time.Now().UnixMilli()+int64(i), `{"msg":"orphan"}`))
	}
	push := func(name string, events ...*eventstore.Event) txnResult {
		t.Helper()
		status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/"+name,
			map[string]any{"origin": "a.test", "events": wire(t, events...)}, nil)
		var res txnResult
		if err := json.Unmarshal(raw, &res); status != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %s", name, status, raw)
		}
		return res
	}
	res := push("orphans", orphans...)
	count := map[string]int{}
	for _, r := range res.Results {
		count[r.Status]++
	}
	if count["pending"] != 5 || count["retry"] != 3 {
		t.Errorf("8 orphans with a cap of 5 per peer: %v", count)
	}
	pending := b.conn.DB.Collection(migrations.PendingCollection)
	if n, _ := pending.CountDocuments(context.Background(), bson.D{}); n != 5 {
		t.Errorf("%d events pending, want 5", n)
	}
	if got := refusedCount(t, b, "a.test", "too_many_pending"); got != 3 {
		t.Errorf("refusals counted: %v, want 3", got)
	}
	firstArrival := func() time.Time {
		var d struct {
			Received time.Time `bson:"received"`
		}
		if err := pending.FindOne(context.Background(), bson.D{{Key: "_id", Value: orphans[0].ID}}).Decode(&d); err != nil {
			t.Fatal(err)
		}
		return d.Received
	}
	first := firstArrival()
	time.Sleep(20 * time.Millisecond)
	push("orphan-again", orphans[0])
	if again := firstArrival(); !again.Equal(first) {
		t.Errorf("sending it again moved its arrival from %v to %v", first, again)
	}
	// A day later the periodic retry drops them.
	offset.Store(int64(25 * time.Hour))
	deadline := time.Now().Add(20 * time.Second)
	for n, _ := pending.CountDocuments(context.Background(), bson.D{}); n != 0; n, _ = pending.CountDocuments(context.Background(), bson.D{}) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pending events still kept a day after they came", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Errorf("B stored an orphan")
	}
	victimClean(t, b)
}

// refusedCount is node n's count of refused requests from origin for reason.
func refusedCount(t *testing.T, n *node, origin, reason string) float64 {
	t.Helper()
	families, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "eventstore_federation_requests_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["origin"] == origin && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// signedEvent is event with type typ and parents (none: a genesis).
func signedEvent(t *testing.T, key *federation.Key, src, ct, cid, typ string, parents []string, ts int64, o string) *eventstore.Event {
	t.Helper()
	e := event(t, key, src, ct, cid, parents, ts, o)
	e.T = typ
	canonical, _ := hashing.CanonicalObject(e.O)
	e.DHash, e.ID = hashing.ID(e.Head(), canonical)
	e.Sigs = federation.SignEvent(key, e.ID)
	return e
}

// TestRoomsCannotBePlanted: a peer that does not take part in a room
// cannot invite to it (its history would be fetched from that peer), and
// a participant's missing-events answer cannot carry another room's
// events (a genesis there would be stored as a room never joined).
func TestRoomsCannotBePlanted(t *testing.T) {
	nodes := startNodesPinned(t, true, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b) // C does not take part
	before := converge(t, "room", "r1", 30*time.Second, a, b)

	// C invites B to r1, with a well-formed server.join of its own.
	join := signedEvent(t, c.keys.Current, "c.test", "room", "r1", "server.join", before.leaves, time.Now().UnixMilli(), `{"server":"b.test"}`)
	status, raw := signedCall(t, c.keys.Current, "c.test", "b.test", b, "POST", federation.Prefix+"/contexts/room/r1/invite",
		map[string]any{"event": wire(t, join)[0]}, nil)
	if status != http.StatusForbidden {
		t.Errorf("a non-participant's invite to r1: %d %s", status, raw)
	}

	// A answers B's next missing-events request with the genesis of a
	// room B never joined.
	planted := signedEvent(t, a.keys.Current, "a.test", "room", "planted", "room", nil, time.Now().UnixMilli(), `{}`)
	b.out.through(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			body, _ := json.Marshal(map[string]any{"events": wire(t, planted)})
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	}))
	orphan := event(t, a.keys.Current, "a.test", "room", "r1", []string{fmt.Sprintf("%064x", 0xbeef)}, time.Now().UnixMilli(), `{"msg":"orphan"}`)
	if status, raw := signedCall(t, a.keys.Current, "a.test", "b.test", b, "PUT", federation.Prefix+"/send/plant",
		map[string]any{"origin": "a.test", "events": wire(t, orphan)}, nil); status != http.StatusOK {
		t.Fatalf("push: %d %s", status, raw)
	}
	b.out.through(http.DefaultTransport)
	if status, _ := b.do("GET", "/api/v1/contexts/room/planted", ""); status != http.StatusNotFound {
		t.Errorf("B stored the planted room: %d", status)
	}
	if got := refusedCount(t, b, "a.test", "wrong_context"); got != 1 {
		t.Errorf("wrong-context events counted: %v", got)
	}
	time.Sleep(300 * time.Millisecond) // a join, had one started, would be fetching now
	if after := b.state("room", "r1"); !after.equal(before) {
		t.Errorf("B's r1 changed")
	}
	victimClean(t, b)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestReplayAfterRestart: a captured request replayed after the receiver
// restarted is refused as it would have been before (the record of
// signatures is in the database, shared by every process).
func TestReplayAfterRestart(t *testing.T) {
	a, b, before := sharedRoom(t)
	e := event(t, a.keys.Current, "a.test", "room", "r1", before.leaves, time.Now().UnixMilli(), `{"msg":"once"}`)
	body, _ := json.Marshal(map[string]any{"origin": "a.test", "events": wire(t, e)})
	path := b.url + federation.Prefix + "/send/captured"
	req, _ := http.NewRequest("PUT", path, bytes.NewReader(body))
	federation.SignRequest(req, a.keys.Current, "a.test", "b.test", body, time.Now())
	auth := req.Header.Get("Authorization")
	send := func() int {
		r, _ := http.NewRequest("PUT", path, bytes.NewReader(body))
		r.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if status := send(); status != http.StatusOK {
		t.Fatalf("the first request: %d", status)
	}
	if status := send(); status != http.StatusUnauthorized {
		t.Errorf("replayed before the restart: %d", status)
	}
	b.restart()
	if status := send(); status != http.StatusUnauthorized {
		t.Errorf("replayed after the restart: %d, want 401 as before it", status)
	}
	victimClean(t, b)
}

// TestRedactionInTransit: C, a participant, relays A's event to B with its
// data stripped, as if deleted. B does not take C's word for it: it asks A,
// the event's origin, and stores A's version; with A out of reach it
// stores nothing. Either way A and B end up holding the same o.
func TestRedactionInTransit(t *testing.T) {
	nodes := startNodesPinned(t, true, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b, c)
	converge(t, "room", "r1", 30*time.Second, a, b, c)
	a.out.set(func(r *http.Request) error { // A's pushes are lost
		if r.Method == http.MethodPut {
			return fmt.Errorf("dropped")
		}
		return nil
	})
	stripped := func(msg string) *eventstore.Event {
		var e eventstore.Event
		if err := json.Unmarshal(a.must("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"msg":"`+msg+`"}}`, http.StatusCreated), &e); err != nil {
			t.Fatal(err)
		}
		e.O, e.D, e.Deleted, e.DeletedAt, e.IsLeaf = nil, nil, true, e.TS+1, false
		return &e
	}
	relay := func(name string, e *eventstore.Event) string {
		status, raw := signedCall(t, c.keys.Current, "c.test", "b.test", b, "PUT", federation.Prefix+"/send/"+name,
			map[string]any{"origin": "c.test", "events": wire(t, e)}, nil)
		var res txnResult
		if err := json.Unmarshal(raw, &res); status != http.StatusOK || err != nil || len(res.Results) != 1 {
			t.Fatalf("relay: %d %s", status, raw)
		}
		return res.Results[0].Status
	}
	hasData := func(n *node, id string) bool {
		status, raw := n.do("GET", "/api/v1/contexts/room/r1/events/"+id, "")
		return status == http.StatusOK && !strings.Contains(string(raw), `"deletedAt"`) && strings.Contains(string(raw), `"o":{"msg"`)
	}

	// A answers B: B stores A's version, with its data.
	e := stripped("the truth")
	relay("stripped", e)
	if !hasData(b, e.ID) {
		status, raw := b.do("GET", "/api/v1/contexts/room/r1/events/"+e.ID, "")
		t.Fatalf("B holds %d %s; want A's event with its data", status, raw)
	}

	// A out of reach: B stores nothing.
	b.out.set(func(r *http.Request) error {
		if strings.HasPrefix(r.URL.String(), a.url) {
			return fmt.Errorf("unreachable")
		}
		return nil
	})
	e2 := stripped("more truth")
	if got := relay("stripped-2", e2); got != "refused" {
		t.Errorf("relayed stripped with its origin out of reach: %s, want refused", got)
	}
	if status, _ := b.do("GET", "/api/v1/contexts/room/r1/events/"+e2.ID, ""); status != http.StatusNotFound {
		t.Errorf("B stored the stripped event: %d", status)
	}
	if got := refusedCount(t, b, "c.test", "deleted_in_transit"); got != 2 {
		t.Errorf("refusals counted: %v, want 2", got)
	}
	b.out.set(nil)
	a.out.set(nil)
	converge(t, "room", "r1", 30*time.Second, a, b, c)
	if !hasData(b, e2.ID) || !hasData(c, e2.ID) {
		t.Error("after A's pushes, B and C do not hold A's data")
	}
	victimClean(t, a)
	victimClean(t, b)
}
