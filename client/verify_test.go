package client_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// TestVerifyCatchesTampering: behind a proxy that alters o in every
// answer, Get, List, Events, Append and Follow with WithVerify fail with
// an *IntegrityError; without it the altered data comes through, and the
// same calls straight to the server pass.
func TestVerifyCatchesTampering(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newServer(t, b, serverConfig{})
		newRoom(t, s, "r")
		direct := newClient(t, s.URL, client.WithVerify())
		e, _, err := direct.Append(ctx, "room", "r", client.NewEvent{T: "msg", O: map[string]string{"msg": "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		tampered := newTamperingProxy(t, s.URL, `"secret"`, `"SECRET"`)

		var o struct{ Msg string }
		altered, err := newClient(t, tampered).Get(ctx, "room", "r", e.ID)
		if err != nil || client.DecodeData(altered.O, &o) != nil || o.Msg != "SECRET" {
			t.Fatalf("without verification: %+v, %v; want the altered o", o, err)
		}
		if _, err := direct.Get(ctx, "room", "r", e.ID); err != nil {
			t.Fatalf("straight to the server: %v", err)
		}

		c := newClient(t, tampered, client.WithVerify())
		calls := []struct {
			name string
			call func() error
		}{
			{name: "get", call: func() error {
				_, err := c.Get(ctx, "room", "r", e.ID)
				return err
			}},
			{name: "list", call: func() error {
				_, err := c.List(ctx, "room", "r", client.ListOptions{})
				return err
			}},
			{name: "events", call: func() error {
				for _, err := range c.Events(ctx, "room", "r", client.ListOptions{Dir: client.Backward}) {
					if err != nil {
						return err
					}
				}
				return nil
			}},
			{name: "append", call: func() error {
				_, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg", O: map[string]string{"msg": "secret"}})
				return err
			}},
			{name: "follow", call: func() error {
				for m, err := range c.Follow(ctx, "room", "r", "start") {
					if err != nil || m.Kind == client.KindCaughtUp {
						return err
					}
				}
				return nil
			}},
		}
		for _, tt := range calls {
			err := tt.call()
			var ie *client.IntegrityError
			if !errors.As(err, &ie) || !errors.Is(err, client.ErrIntegrity) || eventstore.ErrorCode(err) != eventstore.EINVALIDDATA ||
				ie.Event == nil || !strings.Contains(err.Error(), "dHash") {
				t.Errorf("%s: %v, want an *IntegrityError about the dHash", tt.name, err)
			}
		}
	})
}

// TestVerifyChecksWhatWasAskedFor: an answer with a sound event that is
// not the one asked for (a server that answers another id) fails with
// WithVerify.
func TestVerifyChecksWhatWasAskedFor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		var swap atomic.Pointer[[2]string] // the id asked for, the id answered
		s := newServer(t, b, serverConfig{wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if ids := swap.Load(); ids != nil {
					r.URL.Path = strings.Replace(r.URL.Path, ids[0], ids[1], 1)
				}
				next.ServeHTTP(w, r)
			})
		}})
		g := newRoom(t, s, "r")
		c := newClient(t, s.URL, client.WithVerify())
		e, _, err := c.Append(ctx, "room", "r", client.NewEvent{T: "msg"})
		if err != nil {
			t.Fatal(err)
		}
		swap.Store(&[2]string{e.ID, g.ID})
		_, err = c.Get(ctx, "room", "r", e.ID)
		if !errors.Is(err, client.ErrIntegrity) || !strings.Contains(err.Error(), "asked for") {
			t.Fatalf("get %s answered with %s: %v, want an integrity error", e.ID, g.ID, err)
		}
	})
}
