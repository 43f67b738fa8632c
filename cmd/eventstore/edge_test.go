package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRefusedRequestIsNotHeldByItsBody sends requests that are refused
// before their body matters, with a body announced as 100 bytes of which
// one arrives: each must be answered without the rest, and the connection
// closed after the answer (else net/http would wait for up to 256 KiB of
// it, for as long as the client liked).
func TestRefusedRequestIsNotHeldByItsBody(t *testing.T) {
	srv := startServer(t, nil, "--token", "admin:"+strings.Repeat("s", 32))
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"client API without a token", "POST", "/api/v1/contexts/room/r/events", http.StatusUnauthorized},
		{"client API, unknown path", "POST", "/api/v1/nothing/here", http.StatusNotFound},
		{"client API, method not allowed", "PUT", "/api/v1/contexts/room/r", http.StatusMethodNotAllowed},
		{"federation, unsigned", "PUT", "/_federation/v1/send/x", http.StatusUnauthorized},
		{"federation, unknown path", "POST", "/_federation/v1/nothing", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The deadline only bounds the test: a server that waits for
			// the other 99 bytes never answers.
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			head := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is incomplete: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			if !res.Close {
				t.Errorf("the answer does not close the connection (Connection: %q)", res.Header.Get("Connection"))
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("the connection stays open after the answer: %v", err)
			}
		})
	}
}
