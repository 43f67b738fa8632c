package client_test

import (
	"encoding/json"
	"iter"
	"slices"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/client"
	"github.com/eventstore-go/eventstore/store/storetest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want eventstore.Code // "" for success
	}{
		{name: "http", url: "http://127.0.0.1:8080"},
		{name: "https with a prefix", url: "https://example.com/eventstore/"},
		{name: "another scheme", url: "ftp://example.com", want: eventstore.EINVALID},
		{name: "no scheme", url: "127.0.0.1:8080", want: eventstore.EINVALID},
		{name: "no host", url: "http://", want: eventstore.EINVALID},
		{name: "a query", url: "http://example.com/?x=1", want: eventstore.EINVALID},
		{name: "not a URL", url: "http://[::1", want: eventstore.EINVALID},
	}
	for _, tt := range tests {
		_, err := client.New(tt.url)
		if got := eventstore.ErrorCode(err); got != tt.want {
			t.Errorf("%s: New(%q): %v, want code %q", tt.name, tt.url, err, tt.want)
		}
	}
}

// TestEveryMethod: each call against a real server does what the API
// says, and everything it returns verifies (WithVerify).
func TestEveryMethod(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newServer(t, b, serverConfig{})
		c := newClient(t, s.URL, client.WithVerify(), client.WithUserAgent("client-test"))

		g, err := c.CreateContext(ctx, "room", "general", client.NewContext{O: map[string]any{"name": "General"}})
		if err != nil {
			t.Fatal(err)
		}
		if g.T != "room" || g.Ct != "room" || g.Cid != "general" || len(g.Pids) != 0 {
			t.Fatalf("genesis: %+v", g)
		}
		var name struct{ Name string }
		if err := client.DecodeData(g.O, &name); err != nil || name.Name != "General" {
			t.Fatalf("genesis o: %+v, %v", name, err)
		}

		first, created, err := c.Append(ctx, "room", "general", client.NewEvent{T: "msg", O: json.RawMessage(`{"msg":"hello"}`), Clid: "c-1"})
		if err != nil || !created || first.Clid != "c-1" || !slices.Equal(first.Pids, []string{g.ID}) {
			t.Fatalf("append: %+v, created %v, %v", first, created, err)
		}
		again, created, err := c.Append(ctx, "room", "general", client.NewEvent{T: "msg", O: json.RawMessage(`{"msg":"hello"}`), Clid: "c-1"})
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("append with the clid again: %+v, created %v, %v; want %s, not created", again, created, err, first.ID)
		}
		second, _, err := c.Append(ctx, "room", "general", client.NewEvent{T: "msg", O: struct {
			Msg string `json:"msg"`
		}{"world"}, Pids: []string{first.ID}})
		if err != nil || !slices.Equal(second.Pids, []string{first.ID}) {
			t.Fatalf("append with the expected leaves: %+v, %v", second, err)
		}

		got, err := c.Get(ctx, "room", "general", first.ID)
		if err != nil || got.ID != first.ID || got.T != "msg" {
			t.Fatalf("get: %+v, %v", got, err)
		}

		up, err := c.Update(ctx, "room", "general", first.ID, client.Edit{Set: map[string]any{"msg": "hello, edited"}})
		if err != nil || up.T != eventstore.TypeUpdate {
			t.Fatalf("update: %+v, %v", up, err)
		}
		edited, err := c.Get(ctx, "room", "general", first.ID)
		var o, d struct{ Msg string }
		if err != nil || client.DecodeData(edited.O, &o) != nil || client.DecodeData(edited.D, &d) != nil ||
			o.Msg != "hello" || d.Msg != "hello, edited" {
			t.Fatalf("after the update: o %+v, d %+v, %v", o, d, err)
		}
		del, err := c.Delete(ctx, "room", "general", second.ID)
		if err != nil || del.T != eventstore.TypeDelete {
			t.Fatalf("delete: %+v, %v", del, err)
		}
		deleted, err := c.Get(ctx, "room", "general", second.ID)
		if err != nil || !deleted.Deleted || deleted.O != nil || deleted.D != nil {
			t.Fatalf("after the delete: %+v, %v", deleted, err)
		}

		want := []string{g.ID, first.ID, second.ID, up.ID, del.ID} // the timeline
		leaves, err := c.Leaves(ctx, "room", "general")
		if err != nil || !slices.Equal(leaves, []string{del.ID}) {
			t.Fatalf("leaves: %v, %v; want [%s]", leaves, err, del.ID)
		}

		page, err := c.List(ctx, "room", "general", client.ListOptions{Limit: 2})
		if err != nil || len(page.Events) != 2 || page.Events[0].ID != g.ID || page.Next == "" || page.Start == "" || page.End == "" {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		rest, err := c.List(ctx, "room", "general", client.ListOptions{From: page.Next, Limit: 10})
		if err != nil || len(rest.Events) != 3 || rest.Next != "" {
			t.Fatalf("the rest: %+v, %v", rest, err)
		}
		msgs, err := c.List(ctx, "room", "general", client.ListOptions{T: "msg"})
		if err != nil || len(msgs.Events) != 2 {
			t.Fatalf("only msg: %+v, %v", msgs, err)
		}
		if ids := collect(t, c.Events(ctx, "room", "general", client.ListOptions{Limit: 2})); !slices.Equal(ids, want) {
			t.Fatalf("Events forward, 2 a page: %v, want %v", ids, want)
		}
		back := collect(t, c.Events(ctx, "room", "general", client.ListOptions{Dir: client.Backward, Limit: 2}))
		slices.Reverse(back)
		if !slices.Equal(back, want) {
			t.Fatalf("Events backward, 2 a page, reversed: %v, want %v", back, want)
		}
		n := 0
		for _, err := range c.Events(ctx, "room", "general", client.ListOptions{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 2 {
				break // stopping early is fine
			}
		}

		sum, err := c.Context(ctx, "room", "general")
		if err != nil || sum.Ct != "room" || sum.Cid != "general" || sum.Genesis != g.ID || sum.Count != 5 ||
			!slices.Equal(sum.Leaves, []string{del.ID}) || sum.Version == 0 || sum.Servers == nil {
			t.Fatalf("summary: %+v, %v", sum, err)
		}
		rep, err := c.Verify(ctx, "room", "general")
		if err != nil || !rep.Clean || rep.Contexts != 1 || rep.Events != 5 || rep.Redacted != 1 || len(rep.Problems) != 0 ||
			len(rep.PerContext) != 1 || rep.PerContext[0].Cid != "general" || rep.Started.IsZero() {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	})
}

// collect runs an iteration of events to the end and returns their ids.
func collect(t testing.TB, events iter.Seq2[*eventstore.Event, error]) []string {
	t.Helper()
	var ids []string
	for e, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func TestDecodeData(t *testing.T) {
	o := storetest.Data(t, `{"msg":"hi","n":3,"u":{"name":"Alice"},"tags":["a","b"]}`)
	var v struct {
		Msg  string
		N    int
		U    struct{ Name string }
		Tags []string
	}
	if err := client.DecodeData(o, &v); err != nil || v.Msg != "hi" || v.N != 3 || v.U.Name != "Alice" || !slices.Equal(v.Tags, []string{"a", "b"}) {
		t.Fatalf("DecodeData: %+v, %v", v, err)
	}
	if err := client.DecodeData(nil, &v); err != nil || v.Msg != "hi" {
		t.Fatalf("nil data: %+v, %v; want v untouched", v, err)
	}
}
