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
// (every append is answered meanwhile); once it falls behind by the
// stream buffer it gets, after the dispatches it was sent, invalid
// slow_consumer with the cursor to resume from, and the connection
// closes; resumed from that cursor, it has every event of the room once,
// in order.
func TestGatewaySlowConsumer(t *testing.T) {
	srv := startServer(t, nil, "--stream-buffer", "2")
	srv.do("POST", "/api/v1/contexts/room/slow", `{}`).must(t, http.StatusCreated)
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
	w.send(`{"op":1,"d":{"client_id":"slow","subscribe":[{"ct":"room","cid":"slow"}]}}`)
	if p, _ := w.until(2); p.Op != 2 {
		t.Fatalf("not ready: %+v", p)
	}
	// 100 events of 60 KiB, by 8 writers: more than the socket holds (the
	// server's send buffer grows to 4 MiB at most here), soon enough that
	// the write it blocks has not timed out.
	const total, writers = 100, 8
	big := strings.Repeat("x", 60<<10)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < total; i += writers {
				if r := srv.do("POST", "/api/v1/contexts/room/slow/events", fmt.Sprintf(`{"t":"msg","o":{"i":%d,"pad":%q}}`, i, big)); r.Status != http.StatusCreated {
					t.Errorf("append %d: status %d: %s", i, r.Status, r.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Now it reads again: the dispatches it was sent, then the close.
	var got []string
	eventID := func(p wsPacket) string {
		var e struct {
			ID string `json:"_id"`
		}
		_ = json.Unmarshal(p.D, &e)
		return e.ID
	}
	var closing wsPacket
	for {
		p := w.next()
		if p.Op == 4 {
			got = append(got, eventID(p))
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
		t.Fatalf("after %d dispatches: %+v (%s), want invalid slow_consumer with a cursor for room/slow", len(got), closing, closing.D)
	}
	if len(got) >= total {
		t.Fatalf("all %d events reached the client before slow_consumer: the test did not fill the socket", total)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	_, _, err = c.Read(rctx)
	rcancel()
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after slow_consumer the connection ended with %v, want a close frame (policy violation)", err)
	}
	// Resumed from the cursor: the rest, once each.
	again := identified(t, srv, `{"op":1,"d":{"client_id":"slow","subscribe":[{"ct":"room","cid":"slow","from":"`+d.Cursors["room/slow"]+`"}]}}`)
	again.c.SetReadLimit(1 << 20)
	for len(got) < total {
		if p := again.next(); p.Op == 4 {
			got = append(got, eventID(p))
		}
	}
	var page struct {
		Events []struct {
			ID string `json:"_id"`
		} `json:"events"`
	}
	srv.do("GET", "/api/v1/contexts/room/slow/events?limit=200", nil).must(t, http.StatusOK).decode(t, &page)
	var want []string
	for _, e := range page.Events[1:] { // after the genesis
		want = append(want, e.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("across slow_consumer the client got\n%v\nthe room is\n%v", got, want)
	}
}
