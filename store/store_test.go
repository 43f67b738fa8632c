package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"

	"github.com/eventstore-go/eventstore/internal/database"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const server = "a.example"

func newStore(t *testing.T, b storetest.Backend) (*store.Store, *database.Conn) {
	t.Helper()
	conn := b.Connect(t, storetest.Options{})
	return storetest.NewStore(t, conn, server, store.Options{}), conn
}

// data parses JSON into event data, failing the test on error.
func data(t testing.TB, js string) json.RawMessage {
	t.Helper()
	return storetest.Data(t, js)
}

func ctxT(t *testing.T) context.Context { return storetest.Context(t) }

func wantCode(t *testing.T, err error, code eventstore.Code) {
	t.Helper()
	if got := eventstore.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestCreateAppendGet(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", data(t, `{"name":"general"}`))
		if err != nil {
			t.Fatal(err)
		}
		if g.T != "room" || len(g.Pids) != 0 || g.Src != server || g.V != 2 {
			t.Errorf("genesis %+v", g)
		}
		if err := g.Verify(); err != nil {
			t.Fatal(err)
		}
		_, err = s.CreateContext(ctx, "room", "r1", "", data(t, `{}`))
		wantCode(t, err, eventstore.EEXISTS)

		m, existed, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", O: data(t, `{"msg":"hi"}`)})
		if err != nil || existed {
			t.Fatal(err, existed)
		}
		if !slices.Equal(m.Pids, []string{g.ID}) || m.TS <= g.TS-1 {
			t.Errorf("message pids %v ts %d, genesis %s ts %d", m.Pids, m.TS, g.ID, g.TS)
		}
		if err := m.Verify(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "room", "r1", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.IsLeaf || got.ID != m.ID || string(got.D) != string(got.O) {
			t.Errorf("got %+v", got)
		}
		gen, err := s.Get(ctx, "room", "r1", g.ID)
		if err != nil || gen.IsLeaf {
			t.Errorf("genesis after a child: isLeaf %v err %v", gen.IsLeaf, err)
		}
		leaves, err := storetest.Leaves(ctx, s, "room", "r1")
		if err != nil || !slices.Equal(leaves, []string{m.ID}) {
			t.Errorf("leaves %v err %v", leaves, err)
		}
		sum, err := s.Summary(ctx, "room", "r1")
		if err != nil || sum.Count != 2 || sum.Genesis != g.ID {
			t.Errorf("summary %+v err %v", sum, err)
		}

		_, _, err = s.Append(ctx, "room", "nope", store.NewEvent{T: "msg"})
		wantCode(t, err, eventstore.ENOTFOUND)
		_, err = s.Get(ctx, "room", "r2", m.ID)
		wantCode(t, err, eventstore.ENOTFOUND)
		_, err = s.Summary(ctx, "room", "nope")
		wantCode(t, err, eventstore.ENOTFOUND)
	})
}

func TestExpectedParents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", ExpectedPids: []string{g.ID}})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Append(ctx, "room", "r1", store.NewEvent{T: "msg", ExpectedPids: []string{g.ID}})
		wantCode(t, err, eventstore.ECONFLICT)
		sum, _ := s.Summary(ctx, "room", "r1")
		if sum.Count != 2 || !slices.Equal(sum.Leaves, []string{m.ID}) {
			t.Errorf("a refused append changed the context: %+v", sum)
		}
	})
}

func TestListPagination(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{g.ID}
		for i := range 25 {
			typ := "msg"
			if i%5 == 0 {
				typ = "join"
			}
			e, _, err := s.Append(ctx, "room", "r1", store.NewEvent{T: typ})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, e.ID)
		}
		var got []string
		var after *store.Cursor
		for pages := 0; ; pages++ {
			p, err := s.List(ctx, "room", "r1", store.ListQuery{From: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Events {
				got = append(got, e.ID)
			}
			if p.Next == nil {
				break
			}
			after = p.Next
			if pages > 10 {
				t.Fatal("no end")
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed %d events, want %d in order", len(got), len(want))
		}
		joins, err := s.List(ctx, "room", "r1", store.ListQuery{T: "join"})
		if err != nil || len(joins.Events) != 5 {
			t.Errorf("type filter: %d events, err %v", len(joins.Events), err)
		}
		_, err = s.List(ctx, "room", "r1", store.ListQuery{From: &store.Cursor{Pos: 99, Seq: 99}}) // text: stream's TestCursorsAreBound
		wantCode(t, err, eventstore.EBADCURSOR)
		_, err = s.List(ctx, "room", "r1", store.ListQuery{Limit: 1001})
		wantCode(t, err, eventstore.EINVALID)
		_, err = s.List(ctx, "room", "nope", store.ListQuery{})
		wantCode(t, err, eventstore.ENOTFOUND)
	})
}

func TestRefusedInputStoresNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s, _ := newStore(t, b)
		ctx := ctxT(t)
		g, err := s.CreateContext(ctx, "room", "r1", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		bad := func(js string) json.RawMessage { return json.RawMessage(js) }
		tests := []struct {
			name string
			in   store.NewEvent
			want error
		}{
			{"invalid UTF-8", store.NewEvent{T: "msg", O: bad("{\"a\":\"\xff\"}")}, hashing.ErrInvalidUTF8},
			{"integer beyond 2^53-1", store.NewEvent{T: "msg", O: bad(`{"a":9007199254740992}`)}, hashing.ErrIntegerRange},
			{"duplicate member", store.NewEvent{T: "msg", O: bad(`{"a":1,"a":2}`)}, hashing.ErrDuplicateMember},
			{"member starting with $", store.NewEvent{T: "msg", O: bad(`{"$a":1}`)}, hashing.ErrMemberDollar},
			{"member with a dot", store.NewEvent{T: "msg", O: bad(`{"a.b":1}`)}, hashing.ErrMemberDot},
			{"too deep", store.NewEvent{T: "msg", O: bad(deep(33))}, hashing.ErrTooDeep},
			{"too large", store.NewEvent{T: "msg", O: bad(`{"a":"` + strings.Repeat("\\u0000", 11000) + `"}`)}, hashing.ErrTooLarge},
			{"not JSON", store.NewEvent{T: "msg", O: bad(`{"a":}`)}, hashing.ErrSyntax},
			{"not an object", store.NewEvent{T: "msg", O: bad(`[1]`)}, hashing.ErrNotObject},
			{"bad type", store.NewEvent{T: "Msg"}, hashing.ErrBadEventType},
			{"bad expected pids", store.NewEvent{T: "msg", ExpectedPids: []string{"x"}}, hashing.ErrBadEventID},
			{"reserved type", store.NewEvent{T: eventstore.TypeUpdate}, nil},
			{"control character in clid", store.NewEvent{T: "msg", Clid: "a\nb"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.Append(ctx, "room", "r1", tt.in)
				if err == nil {
					t.Fatal("accepted")
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("error %v, want %v", err, tt.want)
				}
				if c := eventstore.ErrorCode(err); c != eventstore.EINVALID && c != eventstore.EINVALIDDATA {
					t.Errorf("code %q", c)
				}
			})
		}
		sum, err := s.Summary(ctx, "room", "r1")
		if err != nil || sum.Count != 1 || !slices.Equal(sum.Leaves, []string{g.ID}) {
			t.Errorf("refused appends changed the context: %+v %v", sum, err)
		}
		_, err = s.CreateContext(ctx, "Room", "r1", "", nil)
		wantCode(t, err, eventstore.EINVALID)
		_, err = s.CreateContext(ctx, "room", "r/1", "", nil)
		wantCode(t, err, eventstore.EINVALID)
	})
}

// deep is n objects, each the only member of the one around it.
func deep(n int) string {
	return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1)
}
