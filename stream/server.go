package stream

import (
	"context"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/store"
)

// serverStream follows every context (of one type, or of all) by the
// commit logs: it has sent everything before its place in each.
type serverStream struct {
	st  Store
	cur *Cursors
	ct  string // "" for every type
	t   eventstore.TypeFilter
	at  ServerCursor
}

func (h *Hub) serverFollower(ctx context.Context, req Request) (*serverStream, error) {
	if req.Ct != "" {
		if err := hashing.ValidateContextType(req.Ct); err != nil {
			return nil, eventstore.WrapError(eventstore.EINVALID, err)
		}
	}
	f := &serverStream{st: h.st, cur: h.cur, ct: req.Ct, t: req.T, at: ServerCursor{}}
	switch req.From {
	case Start:
	case "":
		types, err := f.types(ctx)
		if err != nil {
			return nil, err
		}
		for _, ct := range types {
			if f.at[ct], err = h.st.LogEnd(ctx, ct); err != nil {
				return nil, err
			}
		}
	default:
		var err error
		if f.at, err = h.cur.DecodeServerCursor(req.Ct, req.From); err != nil {
			return nil, err
		}
		for ct, p := range f.at { // a cursor of this server, but from a store since restored or wiped
			end, err := h.st.LogEnd(ctx, ct)
			if err != nil {
				return nil, err
			}
			if p.Entry > end.Entry {
				return nil, eventstore.Errorf(eventstore.EBADCURSOR, "the cursor is past the end of the %s commit log on this server", ct)
			}
		}
	}
	return f, nil
}

func (f *serverStream) scope() Scope   { return Scope{Ct: f.ct} }
func (f *serverStream) cursor() string { return f.cur.EncodeServerCursor(f.ct, f.at) }

// types are the context types the stream follows now.
func (f *serverStream) types(ctx context.Context) ([]string, error) {
	if f.ct != "" {
		return []string{f.ct}, nil
	}
	return f.st.LogTypes(ctx)
}

// place is where the stream is in ct's log (a type it has not seen: at
// its start).
func (f *serverStream) place(ct string) store.LogPos {
	if p, ok := f.at[ct]; ok {
		return p
	}
	return store.LogPos{Entry: 1}
}

func (f *serverStream) catchUp(ctx context.Context, send func(Message) error) error {
	types, err := f.types(ctx)
	if err != nil {
		return err
	}
	for _, ct := range types {
		if err := f.catchUpType(ctx, ct, send); err != nil {
			return err
		}
	}
	return nil
}

func (f *serverStream) catchUpType(ctx context.Context, ct string, send func(Message) error) error {
	for limit := firstPage; ; limit = min(2*limit, pageSize) {
		commits, through, err := f.st.ReadLog(ctx, ct, f.place(ct).Entry-1, limit)
		if err != nil {
			return err
		}
		for _, c := range commits {
			if err := f.deliver(c, nil, send); err != nil {
				return err
			}
		}
		if p := f.place(ct); through >= p.Entry { // past void entries after the last commit too
			f.at[ct] = store.LogPos{Entry: through + 1}
		}
		if len(commits) == 0 {
			return nil
		}
	}
}

// deliver sends what of commit c lies beyond the stream's place; v, if
// not nil, is the commit's shared view.
func (f *serverStream) deliver(c *store.Commit, v *view, send func(Message) error) error {
	p := f.place(c.Ct)
	if c.Log < p.Entry {
		return nil
	}
	from := 0
	if c.Log == p.Entry {
		from = p.Done
	}
	for i := from; i < len(c.Events); i++ {
		f.at[c.Ct] = after(c, i)
		if e := c.Events[i]; f.t.Match(e.T) {
			m := Message{Kind: KindEvent, Event: streamEvent(e), Cursor: f.cursor()}
			if v != nil {
				m.Event, m.Data, m.view, m.index = v.events[i], v.data[i], v, i
			}
			if err := send(m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *serverStream) live(ctx context.Context, it Item, send func(Message) error) error {
	if it.After >= f.place(it.Commit.Ct).Entry { // commits may lie between: the store has them
		return f.catchUpType(ctx, it.Commit.Ct, send)
	}
	return f.deliver(it.Commit, it.view.get(f.cur), send)
}

// after is the place just after event i of commit c.
func after(c *store.Commit, i int) store.LogPos {
	if i == len(c.Events)-1 {
		return store.LogPos{Entry: c.Log + 1}
	}
	return store.LogPos{Entry: c.Log, Done: i + 1}
}
