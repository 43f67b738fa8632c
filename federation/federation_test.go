package federation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/federation"
)

type joinEvent struct {
	ID string `json:"_id"`
	T  string `json:"t"`
}

// share shares a room from one node with others and waits until they have
// fetched it.
func share(t testing.TB, from *node, ct, cid string, to ...*node) {
	t.Helper()
	for _, n := range to {
		var e joinEvent
		if err := json.Unmarshal(from.must("POST", "/api/v1/contexts/"+ct+"/"+cid+"/servers", `{"server":"`+n.name+`"}`, http.StatusCreated), &e); err != nil {
			t.Fatal(err)
		}
		if e.T != "server.join" {
			t.Fatalf("share answered a %s event", e.T)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range to {
		for {
			status, raw := n.do("GET", "/api/v1/contexts/"+ct+"/"+cid, "")
			var sum struct {
				Servers []string `json:"servers"`
			}
			_ = json.Unmarshal(raw, &sum)
			if status == http.StatusOK && slices.Contains(sum.Servers, n.name) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not join %s/%s: %d %s", n.name, ct, cid, status, raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestTwoServersShareARoom(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{"o":{"name":"r1"}}`, http.StatusCreated)
	appendAll(t, "room", "r1", 5, a)
	share(t, a, "room", "r1", b)
	var sum struct {
		Servers []string `json:"servers"`
	}
	_ = json.Unmarshal(a.must("GET", "/api/v1/contexts/room/r1", "", http.StatusOK), &sum)
	if !slices.Equal(sum.Servers, []string{"a.test", "b.test"}) {
		t.Errorf("participants %v", sum.Servers)
	}
	appendAll(t, "room", "r1", 10, a, b)
	s := converge(t, "room", "r1", 30*time.Second, a, b)
	if len(s.events) != 1+5+1+20 {
		t.Errorf("%d events", len(s.events))
	}
	// Sharing again changes nothing.
	a.must("POST", "/api/v1/contexts/room/r1/servers", `{"server":"b.test"}`, http.StatusOK)
	a.must("POST", "/api/v1/contexts/room/r1/servers", `{"server":"nobody.test"}`, http.StatusBadRequest)
}

// TestThreeServersConverge: a room created on A, shared with B and C;
// concurrent appends, edits and deletes on all three; afterwards every
// server has the same events, leaves and d, and its audit is clean.
func TestThreeServersConverge(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	all := []*node{a, b, c}
	a.must("POST", "/api/v1/contexts/room/general", `{"o":{"name":"general"}}`, http.StatusCreated)
	share(t, a, "room", "general", b, c)
	appendAll(t, "room", "general", 15, all...)
	converge(t, "room", "general", 30*time.Second, all...)

	// Every server edits and deletes its own messages, concurrently, and A,
	// which created the room, moderates: it edits and deletes C's too (the
	// authorship rule, docs/federation.md).
	own := map[string][]string{}
	for id, e := range a.state("room", "general").events {
		var ev struct {
			T   string `json:"t"`
			Src string `json:"src"`
		}
		_ = json.Unmarshal([]byte(e), &ev)
		if ev.T == "msg" {
			own[ev.Src] = append(own[ev.Src], id)
		}
	}
	for _, ids := range own {
		slices.Sort(ids)
	}
	var wg sync.WaitGroup
	for _, n := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := own[n.name]
			for j := range 4 {
				n.must("PATCH", "/api/v1/contexts/room/general/events/"+mine[1+j],
					fmt.Sprintf(`{"set":{"msg":"edited on %s","n":%d}}`, n.name, j), http.StatusCreated)
			}
			n.must("DELETE", "/api/v1/contexts/room/general/events/"+mine[len(mine)-1], "", http.StatusCreated)
		}()
	}
	wg.Add(1)
	go func() { // A moderating C's messages
		defer wg.Done()
		theirs := own["c.test"]
		a.must("PATCH", "/api/v1/contexts/room/general/events/"+theirs[2], `{"set":{"msg":"moderated"}}`, http.StatusCreated)
		a.must("DELETE", "/api/v1/contexts/room/general/events/"+theirs[len(theirs)-2], "", http.StatusCreated)
	}()
	// The author and the room's creator edit the same message at the same time.
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.must("PATCH", "/api/v1/contexts/room/general/events/"+own["b.test"][0], fmt.Sprintf(`{"set":{"race":"%s"}}`, n.name), http.StatusCreated)
		}()
	}
	// A server that is neither may not.
	if status, raw := c.do("PATCH", "/api/v1/contexts/room/general/events/"+own["b.test"][0], `{"set":{"msg":"not mine"}}`); status != http.StatusForbidden {
		t.Errorf("C editing B's message: %d %s", status, raw)
	}
	wg.Wait()
	appendAll(t, "room", "general", 5, all...)
	s := converge(t, "room", "general", 60*time.Second, all...)
	deleted := 0
	for _, e := range s.events {
		var ev struct {
			DeletedAt *int64 `json:"deletedAt"`
		}
		_ = json.Unmarshal([]byte(e), &ev)
		if ev.DeletedAt != nil {
			deleted++
		}
	}
	if deleted != 4 {
		t.Errorf("%d deleted events, want 4", deleted)
	}
	for _, n := range all {
		var rep struct {
			Clean    bool `json:"clean"`
			Problems []any
		}
		if err := json.Unmarshal(n.must("GET", "/api/v1/contexts/room/general/verify", "", http.StatusOK), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.Clean {
			t.Errorf("%s: audit %+v", n.name, rep.Problems)
		}
	}
}

// TestShareThenAppendAtOnce: appends right behind a share are tracked
// concurrently with it; whichever makes the peer's cursor, the invitation
// must go out, or the peer never joins.
func TestShareThenAppendAtOnce(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	const rooms = 8
	for i := range rooms {
		room := fmt.Sprintf("r%d", i)
		a.must("POST", "/api/v1/contexts/room/"+room, `{}`, http.StatusCreated)
		a.must("POST", "/api/v1/contexts/room/"+room+"/servers", `{"server":"b.test"}`, http.StatusCreated)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.must("POST", "/api/v1/contexts/room/"+room+"/events", fmt.Sprintf(`{"t":"msg","o":{"w":%d}}`, w), http.StatusCreated)
			}()
		}
		wg.Wait()
	}
	for i := range rooms {
		s := converge(t, "room", fmt.Sprintf("r%d", i), 30*time.Second, a, b)
		if got := len(s.events); got != 6 { // genesis, server.join, 4 messages
			t.Errorf("room r%d: %d events, want 6", i, got)
		}
	}
}

// TestPruneTransactions: answers to received transactions are forgotten
// after a day, and a transaction repeated after that stores nothing new.
func TestPruneTransactions(t *testing.T) {
	nodes := startNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.must("POST", "/api/v1/contexts/room/r1", `{}`, http.StatusCreated)
	share(t, a, "room", "r1", b)
	appendAll(t, "room", "r1", 5, a)
	before := converge(t, "room", "r1", 30*time.Second, a, b)
	ctx := context.Background()
	txns := b.conn.DB.Collection("federation_txns")
	recorded, err := txns.CountDocuments(ctx, bson.D{})
	if err != nil || recorded == 0 {
		t.Fatalf("%d transactions recorded on B (%v)", recorded, err)
	}
	at := func(now time.Time) *federation.Federation {
		f, err := federation.New(federation.Config{Server: "b.test", Store: b.st, DB: b.conn, Keys: b.keys,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if n, err := at(time.Now().Add(23 * time.Hour)).PruneTransactions(ctx); err != nil || n != 0 {
		t.Fatalf("within a day: %d forgotten (%v)", n, err)
	}
	n, err := at(time.Now().Add(25 * time.Hour)).PruneTransactions(ctx)
	if err != nil || n != recorded {
		t.Fatalf("after a day: %d of %d forgotten (%v)", n, recorded, err)
	}
	if left, _ := txns.CountDocuments(ctx, bson.D{}); left != 0 {
		t.Fatalf("%d transactions left", left)
	}
	// A sends everything again from the start: B answers, stores nothing new.
	a.restart()
	_, err = a.conn.DB.Collection("federation_cursors").UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "seq", Value: 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if n, _ := txns.CountDocuments(ctx, bson.D{}); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A did not send again")
		}
	}
	if after := converge(t, "room", "r1", 30*time.Second, a, b); !after.equal(before) {
		t.Error("the repeated transactions changed B")
	}
}
