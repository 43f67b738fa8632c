package api

import (
	"context"
	"errors"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/stream"
)

// subscribe starts following one context. Its error (a refused cursor,
// say) comes before anything of it is sent; its events are held until gate
// is closed (once ready, or the subscribe's ack, has been queued).
func (g *gatewayConn) subscribe(ctx context.Context, sub subscription, gate <-chan struct{}) error {
	if err := eventstore.ValidateContext(sub.Ct, sub.Cid); err != nil {
		return err
	}
	if !g.p.mayRead(sub.Ct, sub.Cid) {
		return invalid("forbidden", "the token does not let you read "+sub.Ct+"/"+sub.Cid)
	}
	key := sub.Ct + "/" + sub.Cid
	g.mu.Lock()
	_, dup := g.subs[key]
	n := len(g.subs)
	g.mu.Unlock()
	switch {
	case dup:
		return eventstore.Errorf(eventstore.ECONFLICT, "already subscribed to %s", key)
	case n >= g.cfg.MaxSubscriptions:
		return eventstore.Errorf(eventstore.EINVALID, "at most %d subscriptions on one connection", g.cfg.MaxSubscriptions)
	}
	sctx, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.subs[key] = cancel
	g.mu.Unlock()
	req := stream.Request{Ct: sub.Ct, Cid: sub.Cid, From: sub.From, T: g.filter, Transport: "gateway"}
	started := make(chan error, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer cancel()
		first := true
		err := g.s.hub.Follow(sctx, req, func(m stream.Message) error {
			if first {
				first = false
				started <- nil
				select {
				case <-gate:
				case <-sctx.Done():
					return sctx.Err()
				}
			}
			return g.deliver(key, m)
		})
		if first {
			started <- err
		}
		if err != nil && sctx.Err() == nil && !first {
			var f *gatewayFailure
			if !errors.As(err, &f) {
				err = invalid(string(eventstore.ErrorCode(err)), eventstore.ErrorMessage(err))
			}
			g.fail(err)
		}
	}()
	if err := <-started; err != nil {
		g.unsubscribe(key)
		return err
	}
	return nil
}

// deliver queues what a subscription's stream says.
func (g *gatewayConn) deliver(key string, m stream.Message) error {
	switch m.Kind {
	case stream.KindEvent:
		data, err := eventData(m)
		if err != nil {
			return err
		}
		g.setCursor(key, m.Cursor)
		if !g.enqueue(packet{Op: opDispatch, T: m.Event.T, D: data, S: m.Cursor}) {
			return invalid("slow_consumer", "the connection fell behind")
		}
	case stream.KindCaughtUp:
		g.setCursor(key, m.Cursor)
	case stream.KindReset:
		g.setCursor(key, m.Cursor)
		return invalid("slow_consumer", "the subscription to "+key+" fell behind")
	}
	return nil
}

// setCursor records where subscription key is: what a slow_consumer
// close tells the client to resume from.
func (g *gatewayConn) setCursor(key, cursor string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cursors[key] = cursor
}

// unsubscribe ends a subscription; it reports whether there was one.
func (g *gatewayConn) unsubscribe(key string) bool {
	g.mu.Lock()
	cancel, ok := g.subs[key]
	delete(g.subs, key)
	delete(g.cursors, key)
	g.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}
