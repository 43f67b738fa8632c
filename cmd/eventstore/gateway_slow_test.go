package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestGatewaySlowConsumer: a client that stops reading holds up no writer
// (every append is answered meanwhile); once one of its subscriptions falls
// behind by the stream buffer it gets, after the dispatches it was sent,
// invalid slow_consumer with the cursors to resume from, and the
// connection closes; resumed from them, it has every event of both its
// rooms once, in order (the other room's dispatches going on while the
// connection is closed included).
func TestGatewaySlowConsumer(t *testing.T) {
	srv := startServer(t, nil, "--stream-buffer", "2")
	rooms := []string{"slow", "chat"}
	for _, cid := range rooms {
		srv.do("POST", "/api/v1/contexts/room/"+cid, `{}`).must(t, http.StatusCreated)
	}
	// A small receive buffer, so that the server's writes block soon.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/api/v1/gateway", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c}
	w.next() // hello
	w.send(`{"op":1,"d":{"client_id":"slow","subscribe":[{"ct":"room","cid":"slow"},{"ct":"room","cid":"chat"}]}}`)
	if p, _ := w.until(2); p.Op != 2 {
		t.Fatalf("not ready: %+v", p)
	}
	// 100 events of 60 KiB in room/slow by 8 writers: more than the socket
	// holds (the server's send buffer grows to 4 MiB at most here), soon
	// enough that the write it blocks has not timed out; 60 small ones in
	// room/chat meanwhile.
	const total, writers, chat = 100, 8, 60
	big := strings.Repeat("x", 60<<10)
	appendTo := func(cid, body string) bool {
		if r := srv.do("POST", "/api/v1/contexts/room/"+cid+"/events", body); r.Status != http.StatusCreated {
			t.Errorf("append to %s: status %d: %s", cid, r.Status, r.Body)
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < total; i += writers {
				if !appendTo("slow", fmt.Sprintf(`{"t":"msg","o":{"i":%d,"pad":%q}}`, i, big)) {
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range chat {
			if !appendTo("chat", fmt.Sprintf(`{"t":"msg","o":{"i":%d}}`, i)) {
				return
			}
		}
	})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Now it reads again: the dispatches it was sent, then the close.
	got := map[string][]string{}
	dispatched := func(p wsPacket) {
		var e struct {
			ID  string `json:"_id"`
			Cid string `json:"cid"`
		}
		_ = json.Unmarshal(p.D, &e)
		got[e.Cid] = append(got[e.Cid], e.ID)
	}
	var closing wsPacket
	for {
		p := w.next()
		if p.Op == 4 {
			dispatched(p)
			continue
		}
		closing = p
		break
	}
	var d struct {
		Code    string            `json:"code"`
		Cursors map[string]string `json:"cursors"`
	}
	if err := json.Unmarshal(closing.D, &d); err != nil || closing.Op != 3 || d.Code != "slow_consumer" || d.Cursors["room/slow"] == "" {
		t.Fatalf("after %d dispatches: %+v (%s), want invalid slow_consumer with a cursor for room/slow", len(got["slow"]), closing, closing.D)
	}
	if len(got["slow"]) >= total {
		t.Fatalf("all %d events reached the client before slow_consumer: the test did not fill the socket", total)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	_, _, err = c.Read(rctx)
	rcancel()
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after slow_consumer the connection ended with %v, want a close frame (policy violation)", err)
	}
	// Resumed from the cursors: the rest, once each.
	var subs []string
	for _, cid := range rooms {
		cur := d.Cursors["room/"+cid]
		if cur == "" {
			t.Fatalf("slow_consumer's cursors %v lack room/%s", d.Cursors, cid)
		}
		subs = append(subs, `{"ct":"room","cid":"`+cid+`","from":"`+cur+`"}`)
	}
	again := identified(t, srv, `{"op":1,"d":{"client_id":"slow","subscribe":[`+strings.Join(subs, ",")+`]}}`)
	again.c.SetReadLimit(1 << 20)
	want := map[string][]string{}
	for _, cid := range rooms {
		var page struct {
			Events []struct {
				ID string `json:"_id"`
			} `json:"events"`
		}
		srv.do("GET", "/api/v1/contexts/room/"+cid+"/events?limit=200", nil).must(t, http.StatusOK).decode(t, &page)
		for _, e := range page.Events[1:] { // after the genesis
			want[cid] = append(want[cid], e.ID)
		}
	}
	for len(got["slow"]) < len(want["slow"]) || len(got["chat"]) < len(want["chat"]) {
		if p := again.next(); p.Op == 4 {
			dispatched(p)
		}
	}
	for _, cid := range rooms {
		if strings.Join(got[cid], ",") != strings.Join(want[cid], ",") {
			t.Errorf("across slow_consumer the client got of room/%s\n%v\nthe room is\n%v", cid, got[cid], want[cid])
		}
	}
}
