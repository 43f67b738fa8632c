package federation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/migrations"
)

// Misbehaving peers, continued (misbehave_test.go): what they send as
// events — dated ahead, orphaned, of another room, stripped in transit.

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
	canonical := e.O
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
