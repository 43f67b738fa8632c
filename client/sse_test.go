package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// scripted is an SSE server that answers its n-th connection with
// answers[n] (the last one again after the end), and records each
// connection's Last-Event-ID and from: for the parts of the protocol a
// real server does not choose to show (line endings, data on several
// lines, unknown messages, an answer cut off).
type scripted struct {
	answers []func(w http.ResponseWriter, r *http.Request)
	mu      sync.Mutex
	resumed []string // "Last-Event-ID|from" of each connection
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.resumed)
	s.resumed = append(s.resumed, r.Header.Get("Last-Event-ID")+"|"+r.URL.Query().Get("from"))
	s.mu.Unlock()
	s.answers[min(n, len(s.answers)-1)](w, r)
}

func (s *scripted) connections() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resumed)
}

// sse answers with a stream of text.
func sse(text string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = w.Write([]byte(text))
	}
}

func problemAnswer(status int, code string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"type":"about:blank","status":` + strconv.Itoa(status) + `,"detail":"scripted","code":"` + code + `"}`))
	}
}

// TestFollowReadsTheFormat: messages with "\r\n", "\r" and "\n" line
// ends, data on two lines, comments and messages of unknown kinds are
// read as the SSE format says; a 500 is retried, the reconnection after a
// reset sends its cursor, a message cut off by the end is dropped, and a
// 404 ends the stream.
func TestFollowReadsTheFormat(t *testing.T) {
	e1 := storetest.RemoteEvent(t, "a.example", "room", "r", "msg", 1796120735783, nil, storetest.Data(t, `{"msg":"one"}`))
	e2 := storetest.RemoteEvent(t, "a.example", "room", "r", "msg", 1796120735784, []string{e1.ID}, nil)
	js := func(e *eventstore.Event) string {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first, second, _ := strings.Cut(js(e1), `,"v":`) // data on two lines
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){
		problemAnswer(http.StatusInternalServerError, "internal"),
		sse("retry: 2000\r\n\r\n: heartbeat\r\n\r\nevent: typing\r\ndata: someone\r\n\r\n" +
			"id: c1\r\ndata: " + first + "\r\ndata:" + `,"v":` + second + "\r\n\r\n" +
			"event: caught-up\nid: c1\ndata: c1\n\n" +
			"id\n\n" + // a message without data: nothing
			"event: reset\rid: c2\rdata: c2\r\r"),
		sse("id: c3\ndata: " + js(e2) + "\n\nid: c4\ndata: {\"_id\""), // cut off
		problemAnswer(http.StatusNotFound, "not_found"),
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithVerify())
	ctx, cancel := context.WithTimeout(context.Background(), followTimeout)
	defer cancel()
	var got []string
	var last error
	for m, err := range c.Follow(ctx, "room", "r", "start") {
		if err != nil {
			last = err
			continue
		}
		s := m.Kind.String() + " " + m.Cursor
		if m.Event != nil {
			s += " " + m.Event.ID
		}
		got = append(got, s)
	}
	want := []string{"event c1 " + e1.ID, "caught-up c1", "reset c2", "event c3 " + e2.ID}
	if !slices.Equal(got, want) {
		t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if eventstore.ErrorCode(last) != eventstore.ENOTFOUND {
		t.Errorf("ended with %v, want not_found", last)
	}
	if conns, want := s.connections(), []string{"|start", "|start", "c2|", "c3|"}; !slices.Equal(conns, want) {
		t.Errorf("connections (Last-Event-ID|from): %q, want %q", conns, want)
	}
}

// TestFollowIdleTimeout: a connection on which nothing arrives, not even
// a heartbeat, is taken for dead and replaced, from the last cursor.
func TestFollowIdleTimeout(t *testing.T) {
	silent := func(cursor string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("event: caught-up\nid: " + cursor + "\ndata: " + cursor + "\n\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // then silence, until the client hangs up
		}
	}
	s := &scripted{answers: []func(http.ResponseWriter, *http.Request){silent("c1"), silent("c2")}}
	srv := httptest.NewServer(s)
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), followTimeout)
	defer cancel()
	c := newClient(t, srv.URL, client.WithIdleTimeout(50*time.Millisecond))
	var cursors []string
	for m, err := range c.Follow(ctx, "room", "r", "") {
		if err != nil {
			t.Fatal(err)
		}
		if cursors = append(cursors, m.Cursor); len(cursors) == 2 {
			break
		}
	}
	if !slices.Equal(cursors, []string{"c1", "c2"}) {
		t.Fatalf("cursors %v", cursors)
	}
	if conns := s.connections(); !slices.Equal(conns, []string{"|", "c1|"}) {
		t.Fatalf("connections (Last-Event-ID|from): %q", conns)
	}
}
