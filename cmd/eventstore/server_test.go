package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a real server started in-process by run(), as the binary
// would be, on 127.0.0.1:0 with its own embedded store.
type testServer struct {
	URL   string
	Token string        // sent with every request when set
	Log   *lockedBuffer // the server's log lines (JSON)
	t     *testing.T
	// Stop stops the server gracefully, checking that it stopped cleanly;
	// the test's end does it anyway.
	Stop func()
}

// startServer starts "eventstore serve" with extra arguments and stops it
// (gracefully, checking that it stopped cleanly) when the test ends.
func startServer(t *testing.T, env map[string]string, args ...string) *testServer {
	t.Helper()
	return startServerIn(t, t.TempDir(), env, args...)
}

// startServerIn is startServer on the data directory dir.
func startServerIn(t *testing.T, dir string, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	argv := append([]string{"eventstore", "serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, args...)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, argv, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	addr := make(chan string, 1)
	logged := &lockedBuffer{}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logged.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		stop := sync.OnceFunc(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("server stopped with %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("server did not stop within 30 s")
			}
		})
		t.Cleanup(stop)
		return &testServer{URL: "http://" + a, Log: logged, t: t, Stop: stop}
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("server did not announce its address within 2 minutes")
	}
	return nil
}

// response is an HTTP answer with its decoded JSON body.
type response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Problem struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Status int    `json:"status"`
	}
}

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// do sends a request; body is sent as given (a string) or marshalled.
func (s *testServer) do(method, path string, body any, header ...string) *response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &response{Status: res.StatusCode, Header: res.Header}
	if out.Body, err = io.ReadAll(res.Body); err != nil {
		s.t.Fatal(err)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(out.Body, &out.Problem); err != nil {
			s.t.Fatalf("problem body %s: %v", out.Body, err)
		}
	}
	return out
}

// must fails the test unless the answer has the status.
func (r *response) must(t *testing.T, status int) *response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

func TestServeRefusesOpenListenWithoutTokens(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"eventstore", "serve", "--listen", "0.0.0.0:0", "--data", t.TempDir()},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0 without tokens") {
		t.Fatalf("error %v", err)
	}
	err = run(context.Background(), []string{"eventstore", "serve", "--token", "root:x", "--data", t.TempDir()},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "scope") {
		t.Fatalf("bad token accepted: %v", err)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		t.Fatalf("unexpected exit error %v", ee)
	}
}

func TestServeEnvironmentFallback(t *testing.T) {
	// EVENTSTORE_TOKEN configures tokens when the flag is absent.
	srv := startServer(t, map[string]string{"EVENTSTORE_TOKEN": "read:0123456789abcdef0123,write:fedcba9876543210fedc"})
	srv.do("GET", "/api/v1/contexts/room/x", nil).must(t, http.StatusUnauthorized)
	srv.Token = "0123456789abcdef0123"
	srv.do("GET", "/api/v1/contexts/room/x", nil).must(t, http.StatusNotFound)
	srv.do("POST", "/api/v1/contexts/room/x", `{}`).must(t, http.StatusForbidden)
	srv.Token = "fedcba9876543210fedc"
	srv.do("POST", "/api/v1/contexts/room/x", `{}`).must(t, http.StatusCreated)
	r := srv.do("GET", "/healthz", nil).must(t, http.StatusOK)
	if !strings.Contains(string(r.Body), "alive") {
		t.Errorf("healthz %s", r.Body)
	}
	_ = fmt.Sprint()
}
