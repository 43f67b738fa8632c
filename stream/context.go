package stream

import (
	"context"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/store"
)

// contextStream follows one context by its positions: it has sent
// everything up to boundary at.
type contextStream struct {
	st      Store
	cur     *Cursors
	ct, cid string
	t       eventstore.TypeFilter
	at      store.Cursor
}

func (h *Hub) contextFollower(ctx context.Context, req Request) (*contextStream, error) {
	if err := eventstore.ValidateContext(req.Ct, req.Cid); err != nil {
		return nil, err
	}
	f := &contextStream{st: h.st, cur: h.cur, ct: req.Ct, cid: req.Cid, t: req.T}
	end, err := h.st.TimelineEnd(ctx, req.Ct, req.Cid) // ENOTFOUND before anything else
	if err != nil {
		return nil, err
	}
	switch req.From {
	case "":
		f.at = end
	case Start:
		f.at = store.StartCursor
	default:
		if f.at, err = h.cur.DecodeCursor(req.Ct, req.Cid, req.From); err != nil {
			return nil, err
		}
		if f.at.Pos > end.Pos {
			return nil, eventstore.Errorf(eventstore.EBADCURSOR, "the cursor is past the end of %s/%s on this server", req.Ct, req.Cid)
		}
	}
	return f, nil
}

func (f *contextStream) scope() Scope   { return Scope{Ct: f.ct, Cid: f.cid} }
func (f *contextStream) cursor() string { return f.cur.EncodeCursor(f.ct, f.cid, f.at) }

// A catch-up reads firstPage events first, so that a client has its first
// events soon, and then pages growing to pageSize.
const (
	firstPage = 16
	pageSize  = 128
)

func (f *contextStream) catchUp(ctx context.Context, send func(Message) error) error {
	for limit := firstPage; ; limit = min(2*limit, pageSize) {
		p, err := f.st.List(ctx, f.ct, f.cid, store.ListQuery{From: &f.at, Limit: limit, T: string(f.t)})
		if err != nil {
			return err
		}
		for i, e := range p.Events {
			f.at = p.Cursors[i]
			if err := send(Message{Kind: KindEvent, Event: streamEvent(e), Cursor: f.cursor()}); err != nil {
				return err
			}
		}
		f.at = p.End // past the events of other types too
		if p.Next == nil {
			return nil
		}
	}
}

func (f *contextStream) live(ctx context.Context, it Item, send func(Message) error) error {
	c := it.Commit
	last := c.First + int64(len(c.Events)) - 1
	switch {
	case last <= f.at.Pos: // sent already
		return nil
	case c.First > f.at.Pos+1: // something lies between: the store has it
		return f.catchUp(ctx, send)
	}
	v := it.view.get(f.cur)
	for i, e := range v.events {
		at := c.Cursor(i)
		if at.Pos <= f.at.Pos {
			continue
		}
		f.at = at
		if f.t.Match(e.T) {
			if err := send(Message{Kind: KindEvent, Event: e, Data: v.data[i], Cursor: v.cursors[i], view: v, index: i}); err != nil {
				return err
			}
		}
	}
	return nil
}
