package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient is a test client of the gateway.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

type wsPacket struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	T  string          `json:"t"`
	S  string          `json:"s"`
}

func dialGateway(t *testing.T, srv *testServer) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/api/v1/gateway", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(raw string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(raw)); err != nil {
		w.t.Fatal(err)
	}
}

// next reads the next packet.
func (w *wsClient) next() wsPacket {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, raw, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("reading a packet: %v", err)
	}
	var p wsPacket
	if err := json.Unmarshal(raw, &p); err != nil {
		w.t.Fatalf("packet %s: %v", raw, err)
	}
	return p
}

// until reads packets until one with op, and returns it and those before.
func (w *wsClient) until(op int) (wsPacket, []wsPacket) {
	w.t.Helper()
	var before []wsPacket
	for {
		p := w.next()
		if p.Op == op {
			return p, before
		}
		before = append(before, p)
	}
}

// TestGateway: hello, identify with a subscription from the start, the
// room's events dispatched in order, an append dispatch acknowledged with
// the stored event and dispatched to a second client, heartbeats, bad
// packets answered with error (the connection stays open), and the
// refusals that close it.
func TestGateway(t *testing.T) {
	srv := startServer(t, nil, "--gateway-heartbeat", "500ms")
	srv.do("POST", "/api/v1/contexts/room/r1", `{}`).must(t, http.StatusCreated)
	srv.do("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"msg":"before"}}`).must(t, http.StatusCreated)

	a, b := dialGateway(t, srv), dialGateway(t, srv)
	for i, w := range []*wsClient{a, b} {
		hello := w.next()
		var h struct {
			Interval int64 `json:"heartbeat_interval"`
		}
		if json.Unmarshal(hello.D, &h); hello.Op != 0 || h.Interval != 500 {
			t.Fatalf("hello: %+v", hello)
		}
		w.send(`{"op":1,"d":{"client_id":"c` + string(rune('a'+i)) + `","subscribe":[{"ct":"room","cid":"r1","from":"start"}]}}`)
	}
	for _, w := range []*wsClient{a, b} {
		var events []wsPacket
		for len(events) < 2 {
			p := w.next()
			switch p.Op {
			case 2: // ready
			case 4:
				events = append(events, p)
			default:
				t.Fatalf("before the backlog: %+v", p)
			}
		}
		if events[0].T != "room" || events[1].T != "msg" || events[1].S == "" {
			t.Errorf("the backlog: %+v", events)
		}
	}
	a.send(`{"op":4,"t":"append","d":{"nonce":"n1","ct":"room","cid":"r1","t":"msg","o":{"msg":"from a"}}}`)
	ack, _ := a.until(7)
	var acked struct {
		Nonce string `json:"nonce"`
		Event struct {
			ID string `json:"_id"`
		} `json:"event"`
	}
	if json.Unmarshal(ack.D, &acked); acked.Nonce != "n1" || acked.Event.ID == "" {
		t.Fatalf("ack: %s", ack.D)
	}
	got, _ := b.until(4)
	if !strings.Contains(string(got.D), acked.Event.ID) {
		t.Errorf("b got %s, want the event a appended", got.D)
	}
	// Heartbeat, and bad packets that leave the connection open.
	a.send(`{"op":5,"d":{"client_id":"ca"}}`)
	if p, _ := a.until(6); p.Op != 6 {
		t.Errorf("heartbeat: %+v", p)
	}
	a.send(`not json`)
	a.send(`{"op":9}`)
	a.send(`{"op":4,"t":"append","d":{"nonce":"n2","ct":"room","cid":"nope","t":"msg"}}`)
	a.send(`{"op":4,"t":"explode","d":{"nonce":"n3","ct":"room","cid":"r1"}}`)
	var errs []string
	for len(errs) < 4 {
		p, _ := a.until(8)
		var e struct {
			Nonce  string `json:"nonce"`
			Code   string `json:"code"`
			Status int    `json:"status"`
		}
		json.Unmarshal(p.D, &e)
		errs = append(errs, e.Nonce+":"+e.Code)
	}
	if strings.Join(errs, ",") != ":invalid_request,:invalid_request,n2:not_found,n3:invalid_request" {
		t.Errorf("errors: %v", errs)
	}
	a.send(`{"op":5,"d":{"client_id":"ca"}}`)
	if p, _ := a.until(6); p.Op != 6 {
		t.Error("the connection did not stay open after bad packets")
	}
	// b stops heartbeating: closed with heartbeat_timeout.
	inv, _ := b.until(3)
	if !strings.Contains(string(inv.D), "heartbeat_timeout") {
		t.Errorf("b without heartbeats: %s", inv.D)
	}

	// Refused at identify: a wrong first packet, a bad cursor.
	for name, first := range map[string]string{
		"heartbeat first": `{"op":5,"d":{}}`,
		"no client_id":    `{"op":1,"d":{}}`,
		"bad cursor":      `{"op":1,"d":{"client_id":"x","subscribe":[{"ct":"room","cid":"r1","from":"garbage"}]}}`,
		"bad context":     `{"op":1,"d":{"client_id":"x","subscribe":[{"ct":"Room","cid":"r1"}]}}`,
	} {
		w := dialGateway(t, srv)
		w.next() // hello
		w.send(first)
		if p, _ := w.until(3); p.Op != 3 {
			t.Errorf("%s: %+v", name, p)
		}
		// A client that got invalid goes; one that ignored the close frame
		// would hold the server's side for its close handshake (5 s at most).
		w.c.CloseNow()
	}
	a.c.Close(websocket.StatusNormalClosure, "")
	// No goroutine of the server's gateway is left (the test's own client
	// connections live in this process too, so they are told apart by
	// their stacks).
	deadline := time.Now().Add(10 * time.Second) // a close handshake waits 5 s at most for a client's close frame
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "api.(*gatewayConn)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway goroutines left after every connection closed:\n%s", stacks)
		}
		time.Sleep(50 * time.Millisecond)
	}
	metrics := string(srv.do("GET", "/metrics", nil).must(t, http.StatusOK).Body)
	for _, want := range []string{`eventstore_gateway_answers_total{result="ack"} 1`, `eventstore_gateway_answers_total{result="not_found"} 1`,
		`eventstore_gateway_closed_total{code="heartbeat_timeout"} `, // b's, and a's if the refusals took over a second
		`eventstore_gateway_connections 0`,
		`eventstore_gateway_packets_total{direction="in",op="5"} 3`} {
		if !strings.Contains(metrics, want) {
			var got []string
			for _, l := range strings.Split(metrics, "\n") {
				if strings.HasPrefix(l, "eventstore_gateway") {
					got = append(got, l)
				}
			}
			t.Errorf("metrics lack %s; the gateway's are:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// identified is a client that said hello back and got ready.
func identified(t *testing.T, srv *testServer, identify string) *wsClient {
	t.Helper()
	w := dialGateway(t, srv)
	w.next() // hello
	w.send(identify)
	if p, before := w.until(2); p.Op != 2 || len(before) != 0 {
		t.Fatalf("not ready: %+v after %+v", p, before)
	}
	return w
}

// TestGatewayClientTokens: a client token subscribes and writes only
// where it may (forbidden otherwise, nothing stored), the connection is
// closed with token_expired when it expires, a second connection with a
// healthy one's client_id is refused, and shutdown closes every connection
// with a close frame.
func TestGatewayClientTokens(t *testing.T) {
	const admin, secret = "admin0123456789abcdef", "client-secret-of-at-least-32-bytes!"
	srv := startServer(t, nil, "--token", "admin:"+admin, "--client-token-key", "hmac:"+secret)
	srv.Token = admin
	for _, room := range []string{"general", "secret"} {
		srv.do("POST", "/api/v1/contexts/room/"+room, `{}`).must(t, http.StatusCreated)
	}
	mint := func(ttl string, rights ...string) string {
		t.Helper()
		out, stderr, status := runCommand(t, "", append([]string{"token", "--client-token-key", "hmac:" + secret, "--sub", "alice", "--ttl", ttl}, rights...)...)
		if status != 0 {
			t.Fatalf("eventstore token: %s", stderr)
		}
		return strings.TrimSpace(out)
	}
	reader := mint("1h", "--read", "room/general")

	// Subscribing to a room the token does not name: invalid forbidden.
	w := dialGateway(t, srv)
	w.next()
	w.send(`{"op":1,"d":{"client_id":"x","token":"` + reader + `","subscribe":[{"ct":"room","cid":"secret"}]}}`)
	if p, _ := w.until(3); !strings.Contains(string(p.D), `"forbidden"`) {
		t.Errorf("subscribing to room/secret: %s", p.D)
	}
	// No token at all: unauthorized.
	w = dialGateway(t, srv)
	w.next()
	w.send(`{"op":1,"d":{"client_id":"x","subscribe":[]}}`)
	if p, _ := w.until(3); !strings.Contains(string(p.D), `"unauthorized"`) {
		t.Errorf("no token: %s", p.D)
	}
	// Writing where it may only read: error forbidden, nothing stored.
	a := identified(t, srv, `{"op":1,"d":{"client_id":"tab-1","token":"`+reader+`","subscribe":[{"ct":"room","cid":"general"}]}}`)
	a.send(`{"op":4,"t":"append","d":{"nonce":"w1","ct":"room","cid":"general","t":"msg","o":{"msg":"no"}}}`)
	if p, _ := a.until(8); !strings.Contains(string(p.D), `"forbidden"`) || !strings.Contains(string(p.D), `"w1"`) {
		t.Errorf("a read-only token appending: %s", p.D)
	}
	var sum struct{ Count int }
	srv.do("GET", "/api/v1/contexts/room/general", nil).must(t, http.StatusOK).decode(t, &sum)
	if sum.Count != 1 {
		t.Errorf("room/general has %d events, want 1", sum.Count)
	}
	// The same client_id again while tab-1 is healthy.
	w = dialGateway(t, srv)
	w.next()
	w.send(`{"op":1,"d":{"client_id":"tab-1","token":"` + reader + `","subscribe":[]}}`)
	if p, _ := w.until(3); !strings.Contains(string(p.D), "duplicate_client") {
		t.Errorf("a second tab-1: %s", p.D)
	}
	// A token that expires while connected.
	short := identified(t, srv, `{"op":1,"d":{"client_id":"tab-2","token":"`+mint("1s", "--read", "room/general")+`","subscribe":[]}}`)
	go func() { // keep it alive until then
		for range 6 {
			time.Sleep(300 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = short.c.Write(ctx, websocket.MessageText, []byte(`{"op":5,"d":{"client_id":"tab-2"}}`))
			cancel()
		}
	}()
	if p, _ := short.until(3); !strings.Contains(string(p.D), "token_expired") {
		t.Errorf("expiry: %s", p.D)
	}
	// Shutdown: a close frame, "going away".
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := a.c.Read(ctx); err != nil {
			if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
				t.Errorf("at shutdown: %v (close status %d), want going away", err, status)
			}
			break
		}
	}
}

// TestGatewayResume: a client subscribes after identify, drops its
// connection halfway through a room, and resumes from the last cursor it
// had: it gets every later event once, none missing, none twice. After
// unsubscribe nothing more comes.
func TestGatewayResume(t *testing.T) {
	srv := startServer(t, nil)
	srv.do("POST", "/api/v1/contexts/room/r1", `{}`).must(t, http.StatusCreated)
	for i := range 3 {
		srv.do("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"n":`+string(rune('0'+i))+`}}`).must(t, http.StatusCreated)
	}
	eventID := func(p wsPacket) string {
		var e struct {
			ID string `json:"_id"`
		}
		json.Unmarshal(p.D, &e)
		return e.ID
	}
	a := identified(t, srv, `{"op":1,"d":{"client_id":"r","subscribe":[]}}`)
	a.send(`{"op":4,"t":"subscribe","d":{"nonce":"s1","ct":"room","cid":"r1","from":"start"}}`)
	a.send(`{"op":4,"t":"subscribe","d":{"nonce":"s2","ct":"room","cid":"nope"}}`)
	var got []string
	var cursor string
	answers := map[string]int{}
	for len(got) < 2 || len(answers) < 2 {
		p := a.next()
		switch p.Op {
		case 4:
			if len(got) < 2 {
				got, cursor = append(got, eventID(p)), p.S
			}
		case 7, 8:
			var d struct{ Nonce string }
			json.Unmarshal(p.D, &d)
			answers[d.Nonce] = p.Op
		}
	}
	if answers["s1"] != 7 || answers["s2"] != 8 {
		t.Errorf("subscribe answers %v: want s1 acked, s2 an error (no such room)", answers)
	}
	a.c.CloseNow() // dropped halfway
	for i := range 2 {
		srv.do("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg","o":{"late":`+string(rune('0'+i))+`}}`).must(t, http.StatusCreated)
	}
	b := identified(t, srv, `{"op":1,"d":{"client_id":"r","subscribe":[{"ct":"room","cid":"r1","from":"`+cursor+`"}]}}`)
	for len(got) < 6 {
		if p := b.next(); p.Op == 4 {
			got = append(got, eventID(p))
		}
	}
	var page struct {
		Events []struct {
			ID string `json:"_id"`
		} `json:"events"`
	}
	srv.do("GET", "/api/v1/contexts/room/r1/events?limit=100", nil).must(t, http.StatusOK).decode(t, &page)
	var want []string
	for _, e := range page.Events {
		want = append(want, e.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("across the drop the client got\n%v\nthe room is\n%v", got, want)
	}
	b.send(`{"op":4,"t":"unsubscribe","d":{"nonce":"u1","ct":"room","cid":"r1"}}`)
	if p, _ := b.until(7); !strings.Contains(string(p.D), "u1") {
		t.Errorf("unsubscribe: %s", p.D)
	}
	srv.do("POST", "/api/v1/contexts/room/r1/events", `{"t":"msg"}`).must(t, http.StatusCreated)
	time.Sleep(300 * time.Millisecond)
	b.send(`{"op":5,"d":{"client_id":"r"}}`)
	if p, before := b.until(6); len(before) != 0 {
		t.Errorf("after unsubscribe the client got %+v", before)
	} else if p.Op != 6 {
		t.Errorf("heartbeat: %+v", p)
	}
}

// TestGatewayLimits: dispatches beyond the rate get error rate_limited
// (the connection stays), a connection beyond a token's limit is refused,
// subscriptions beyond the limit are refused, and an oversized packet
// closes the connection.
func TestGatewayLimits(t *testing.T) {
	const secret = "limits-secret-0123456789" // the connection cap is per token: a server without tokens has none
	srv := startServer(t, nil, "--token", "admin:"+secret, "--gateway-dispatch-rate", "2", "--gateway-max-connections", "2",
		"--gateway-max-subscriptions", "1", "--gateway-max-packet", "4096")
	srv.Token = secret
	srv.do("POST", "/api/v1/contexts/room/r1", `{}`).must(t, http.StatusCreated)
	srv.do("POST", "/api/v1/contexts/room/r2", `{}`).must(t, http.StatusCreated)
	a := identified(t, srv, `{"op":1,"d":{"client_id":"l1","token":"`+secret+`","subscribe":[{"ct":"room","cid":"r1"}]}}`)
	for i := range 8 {
		a.send(`{"op":4,"t":"append","d":{"nonce":"n` + string(rune('0'+i)) + `","ct":"room","cid":"r1","t":"msg"}}`)
	}
	codes := map[string]int{}
	for codes["ack"]+codes["rate_limited"] < 8 {
		p := a.next()
		switch p.Op {
		case 7:
			codes["ack"]++
		case 8:
			var e struct{ Code string }
			json.Unmarshal(p.D, &e)
			codes[e.Code]++
		}
	}
	if codes["ack"] < 1 || codes["ack"] > 5 || codes["rate_limited"] < 3 {
		t.Errorf("8 dispatches at once against 2 a second (burst 4): %v", codes)
	}
	a.send(`{"op":4,"t":"subscribe","d":{"nonce":"s1","ct":"room","cid":"r2"}}`)
	if p, _ := a.until(8); !strings.Contains(string(p.D), "s1") {
		t.Errorf("a second subscription with a limit of 1: %s", p.D)
	}
	identified(t, srv, `{"op":1,"d":{"client_id":"l2","token":"`+secret+`","subscribe":[]}}`)
	w := dialGateway(t, srv)
	w.next()
	w.send(`{"op":1,"d":{"client_id":"l3","token":"` + secret + `","subscribe":[]}}`)
	if p, _ := w.until(3); !strings.Contains(string(p.D), "rate_limited") {
		t.Errorf("a third connection with a limit of 2: %s", p.D)
	}
	a.send(`{"op":5,"d":{"client_id":"` + strings.Repeat("x", 5000) + `"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := a.c.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Errorf("an oversized packet: %v", err)
			}
			break
		}
	}
}

// TestGatewayWithoutTokens: a server without tokens (loopback only) does
// not cap gateway connections: every connection is the same principal, so
// the cap per token (100 by default) would cap the whole server.
func TestGatewayWithoutTokens(t *testing.T) {
	srv := startServer(t, nil)
	for i := range 150 {
		identified(t, srv, fmt.Sprintf(`{"op":1,"d":{"client_id":"tab-%d","subscribe":[]}}`, i))
	}
	// client_id still names one connection.
	w := dialGateway(t, srv)
	w.next()
	w.send(`{"op":1,"d":{"client_id":"tab-7","subscribe":[]}}`)
	if p, _ := w.until(3); !strings.Contains(string(p.D), "duplicate_client") {
		t.Errorf("a second connection as tab-7: %s", p.D)
	}
}
