package client_test

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestErrorCodes: every refusal of the server reaches the caller as an
// *eventstore.Error with the problem's code and detail.
func TestErrorCodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newServer(t, b, serverConfig{})
		c := newClient(t, s.URL)
		g := newRoom(t, s, "r")
		msg, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		gone, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Delete(ctx, "room", "r", gone.ID); err != nil {
			t.Fatal(err)
		}
		missing := strings.Repeat("0", 64)
		big := map[string]string{"pad": strings.Repeat("x", api.MaxBodyBytes)}
		tests := []struct {
			name   string
			call   func() error
			want   eventstore.Code
			detail string // a part of the server's detail
		}{
			{name: "no such event", want: eventstore.ENOTFOUND, detail: missing, call: func() error {
				_, err := c.Get(ctx, "room", "r", missing)
				return err
			}},
			{name: "no such context", want: eventstore.ENOTFOUND, call: func() error {
				_, err := c.Context(ctx, "room", "nowhere")
				return err
			}},
			{name: "append to no context", want: eventstore.ENOTFOUND, call: func() error {
				_, _, err := c.Append(ctx, "room", "nowhere", client.NewEvent{T: "msg"})
				return err
			}},
			{name: "context exists", want: eventstore.EEXISTS, detail: "already exists", call: func() error {
				_, err := c.CreateContext(ctx, "room", "r", client.NewContext{})
				return err
			}},
			{name: "wrong pids", want: eventstore.ECONFLICT, call: func() error {
				_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg", Pids: []string{g.ID}})
				return err
			}},
			{name: "invalid data", want: eventstore.EINVALIDDATA, call: func() error {
				_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg", O: map[string]int{"$where": 1}})
				return err
			}},
			{name: "no type", want: eventstore.EINVALID, call: func() error {
				_, _, err := c.Append(ctx, "room", "r", client.NewEvent{})
				return err
			}},
			{name: "too large", want: eventstore.ETOOLARGE, call: func() error {
				_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg", O: big})
				return err
			}},
			{name: "delete twice", want: eventstore.EGONE, call: func() error {
				_, err := c.Delete(ctx, "room", "r", gone.ID)
				return err
			}},
			{name: "update a deleted event", want: eventstore.EGONE, call: func() error {
				_, err := c.Update(ctx, "room", "r", gone.ID, client.Edit{Set: map[string]any{"msg": "x"}})
				return err
			}},
			{name: "update nothing", want: eventstore.EINVALID, call: func() error {
				_, err := c.Update(ctx, "room", "r", msg.ID, client.Edit{})
				return err
			}},
			{name: "a bad cursor", want: eventstore.EBADCURSOR, call: func() error {
				_, err := c.List(ctx, "room", "r", client.ListOptions{From: "1.2.3.bogus"})
				return err
			}},
			{name: "a bad cursor on a stream", want: eventstore.EBADCURSOR, call: func() error {
				return firstError(c.Follow(ctx, "room", "r", "1.2.3.bogus"))
			}},
			{name: "a stream of no context", want: eventstore.ENOTFOUND, call: func() error {
				return firstError(c.Follow(ctx, "room", "nowhere", ""))
			}},
		}
		for _, tt := range tests {
			err := tt.call()
			var e *eventstore.Error
			if !errors.As(err, &e) || e.Code != tt.want || eventstore.ErrorCode(err) != tt.want || !errors.Is(err, tt.want) {
				t.Errorf("%s: %v (%T), want an *eventstore.Error with code %s", tt.name, err, err, tt.want)
				continue
			}
			if e.Message == "" || !strings.Contains(e.Message, tt.detail) {
				t.Errorf("%s: message %q, want the server's detail (with %q)", tt.name, e.Message, tt.detail)
			}
		}
	})
}

// firstError is the error a stream ends with (nil if it yields something
// else first).
func firstError(messages iter.Seq2[client.Message, error]) error {
	for _, err := range messages {
		return err
	}
	return nil
}

// TestTokens: without a token, with a wrong one and with one whose scope
// is too small, calls (streams included) are refused with unauthorized or
// forbidden; the right token passes.
func TestTokens(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		const reader, writer = "read-secret-0123456789", "write-secret-0123456789"
		s := newServer(t, b, serverConfig{tokens: []api.Token{{Scope: api.ScopeRead, Secret: reader}, {Scope: api.ScopeWrite, Secret: writer}}})
		newRoom(t, s, "r")
		appendOne := func(c *client.Client) error {
			_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
			return err
		}
		list := func(c *client.Client) error {
			_, err := c.List(ctx, "room", "r", client.ListOptions{})
			return err
		}
		follow := func(c *client.Client) error {
			for m, err := range c.Follow(ctx, "room", "r", "start") {
				if err != nil || m.Kind == client.KindCaughtUp {
					return err
				}
			}
			return nil
		}
		tests := []struct {
			name  string
			token string // "" for none
			call  func(*client.Client) error
			want  eventstore.Code
		}{
			{name: "no token", call: list, want: eventstore.EUNAUTHORIZED},
			{name: "no token, stream", call: follow, want: eventstore.EUNAUTHORIZED},
			{name: "a wrong token", token: "not-a-token-0123456789", call: list, want: eventstore.EUNAUTHORIZED},
			{name: "read token appends", token: reader, call: appendOne, want: eventstore.EFORBIDDEN},
			{name: "read token lists", token: reader, call: list},
			{name: "read token follows", token: reader, call: follow},
			{name: "write token appends", token: writer, call: appendOne},
		}
		for _, tt := range tests {
			var opts []client.Option
			if tt.token != "" {
				opts = append(opts, client.WithToken(tt.token))
			}
			if err := tt.call(newClient(t, s.URL, opts...)); eventstore.ErrorCode(err) != tt.want {
				t.Errorf("%s: %v, want code %q", tt.name, err, tt.want)
			}
		}
	})
}

// TestAnswersWithoutProblem: an error answer that is not problem+json (a
// proxy's page) gets the code of its status and a message naming it.
func TestAnswersWithoutProblem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		status := map[string]int{"/api/v1/contexts/room/bad-gateway": http.StatusBadGateway,
			"/api/v1/contexts/room/teapot": http.StatusTeapot, "/api/v1/contexts/room/gone": http.StatusGone}
		s := newServer(t, b, serverConfig{wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if code, ok := status[r.URL.Path]; ok {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(code)
					_, _ = w.Write([]byte("<html>\n  <h1>proxy says no</h1>\n</html>\n"))
					return
				}
				next.ServeHTTP(w, r)
			})
		}})
		c := newClient(t, s.URL, client.WithRetry(1, time.Millisecond))
		for path, want := range map[string]eventstore.Code{"bad-gateway": eventstore.EUNAVAILABLE,
			"teapot": eventstore.EINVALID, "gone": eventstore.EGONE} {
			_, err := c.Context(context.Background(), "room", path)
			if eventstore.ErrorCode(err) != want || !strings.Contains(err.Error(), "proxy says no") || !strings.Contains(err.Error(), "HTTP") {
				t.Errorf("%s: %v, want code %s and the status and body in the message", path, err, want)
			}
		}
	})
}
