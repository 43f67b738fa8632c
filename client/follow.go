package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/eventstore-go/eventstore"
)

// Kind is what a stream message is.
type Kind int

// Kinds of message.
const (
	KindEvent    Kind = iota // an event of the timeline
	KindCaughtUp             // the backlog has been sent: what follows is live (once per connection)
	KindReset                // the server cut the stream off because it fell behind; the client resumes by itself
)

func (k Kind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindCaughtUp:
		return "caught-up"
	case KindReset:
		return "reset"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Message is one message of a stream.
type Message struct {
	Kind   Kind
	Event  *eventstore.Event // KindEvent only; as stored when the server read it (docs/streams.md), without isLeaf
	Cursor string            // where the stream is after this message: resume or list from here
}

// ContextStream selects a context's live stream.
type ContextStream struct {
	Ct, Cid string
	T       string // only events of this type ("msg"), or of a prefix ("message.*"); "": all
	From    string // a cursor; "start" for the whole history; "": from now on
}

// ServerStream selects the server-wide live stream.
type ServerStream struct {
	Ct   string // only contexts of this type; "": all (that the token may read)
	T    string // only events of this type, or of a prefix ("message.*")
	From string // a cursor of this stream with this Ct; "start"; "": from now on
}

// Follow follows context ct/cid live from cursor from ("start" for the
// whole history, "" for the events stored from now on); see
// FollowContext.
func (c *Client) Follow(ctx context.Context, ct, cid, from string) iter.Seq2[Message, error] {
	return c.FollowContext(ctx, ContextStream{Ct: ct, Cid: cid, From: from})
}

// FollowContext follows a context's stream (GET …/stream). It yields
// every event after s.From exactly once, in timeline order, and the
// stream's caught-up and reset markers, each with its cursor.
//
// It reconnects by itself when the connection drops, the server answers
// 5xx or 429, the stream ends (a restart, a reset) or stays silent past
// the idle timeout (WithIdleTimeout), with backoff and jitter (WithRetry's
// base; no limit on attempts), resuming with Last-Event-ID set to the
// cursor of the last message it yielded, so nothing is missed or repeated.
// A caught-up follows each reconnection. Until the first message, it
// reconnects from s.From: with "" (now), events stored while it was not
// connected are then not seen.
//
// The iteration ends when the loop stops, when ctx ends (yielding its
// error), and on an answer that will not change (yielding an
// *eventstore.Error): 400 invalid_cursor, 401, 403, 404. With WithVerify,
// an event that does not verify ends it with an *IntegrityError. It starts
// no goroutine: breaking out of the loop closes the connection.
func (c *Client) FollowContext(ctx context.Context, s ContextStream) iter.Seq2[Message, error] {
	q := url.Values{}
	if s.T != "" {
		q.Set("t", s.T)
	}
	return c.follow(ctx, stream{path: contextPath(s.Ct, s.Cid) + "/stream", query: q, from: s.From, want: expect{ct: s.Ct, cid: s.Cid}})
}

// FollowServer follows the server-wide stream (GET /api/v1/stream): every
// context the token may read, or those of type s.Ct. Each context's
// events come in its timeline order; it behaves as FollowContext.
func (c *Client) FollowServer(ctx context.Context, s ServerStream) iter.Seq2[Message, error] {
	q := url.Values{}
	if s.Ct != "" {
		q.Set("ct", s.Ct)
	}
	if s.T != "" {
		q.Set("t", s.T)
	}
	return c.follow(ctx, stream{path: "/api/v1/stream", query: q, from: s.From, want: expect{ct: s.Ct}})
}

// stream is a stream to follow.
type stream struct {
	path  string
	query url.Values // without from
	from  string
	want  expect
}

// connection is how one connection to a stream ended.
type connection struct {
	stopped  bool          // the loop stopped
	err      error         // why it ended
	retry    bool          // reconnecting may work
	after    time.Duration // the wait the server asked for
	progress bool          // it yielded something
	reset    bool          // it ended with a reset: reconnect at once
}

var errIdle = errors.New("the stream stayed silent past the idle timeout")

func (c *Client) follow(ctx context.Context, s stream) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		cursor := "" // of the last message yielded
		failures := 0
		for {
			conn := c.connect(ctx, s, &cursor, yield)
			if conn.stopped {
				return
			}
			if ctx.Err() != nil {
				yield(Message{}, context.Cause(ctx))
				return
			}
			if !conn.retry {
				yield(Message{}, conn.err)
				return
			}
			if conn.progress {
				failures = 0
			}
			if conn.reset {
				continue
			}
			if err := sleep(ctx, c.backoff(failures, conn.after)); err != nil {
				yield(Message{}, err)
				return
			}
			failures++
		}
	}
}

// connect opens the stream once, from *cursor (or s.from while it is
// empty), and yields its messages until it ends, keeping *cursor.
func (c *Client) connect(ctx context.Context, s stream, cursor *string, yield func(Message, error) bool) connection {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q := maps.Clone(s.query)
	if q == nil {
		q = url.Values{}
	}
	if *cursor == "" && s.from != "" {
		q.Set("from", s.from)
	}
	u := c.base + s.path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return connection{err: eventstore.WrapError(eventstore.EINVALID, err)}
	}
	c.header(req)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if *cursor != "" {
		req.Header.Set("Last-Event-ID", *cursor)
	}
	// The idle timer cancels the connection when nothing arrives: a
	// connection that died without a word would otherwise block a read
	// for ever. It is stopped while the loop body runs.
	idle := func() {}
	pause := func() {}
	if c.opts.idle > 0 {
		t := time.AfterFunc(c.opts.idle, func() { cancel(errIdle) })
		defer t.Stop()
		idle = func() { t.Reset(c.opts.idle) }
		pause = func() { t.Stop() }
	}
	r := request{method: http.MethodGet, path: s.path}
	resp, err := c.opts.http.Do(req)
	if err != nil {
		return connection{err: c.transportError(ctx, r, err), retry: true}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		hint := retryHintOf(resp)
		return connection{err: responseError(r, resp, body), retry: hint.ok, after: hint.after}
	}
	if media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); media != "text/event-stream" {
		return connection{err: eventstore.Errorf(eventstore.EINTERNAL, "%s: the answer is %q, not an event stream", r, media)}
	}
	events := newSSEReader(resp.Body, idle)
	progress := false
	for {
		m, err := events.next()
		if err != nil {
			return connection{err: c.transportError(ctx, r, err), retry: true, progress: progress}
		}
		msg, ok, err := c.message(m, s.want)
		if err != nil {
			return connection{err: err}
		}
		if !ok {
			continue
		}
		progress = true
		if msg.Cursor != "" {
			*cursor = msg.Cursor
		}
		pause()
		if !yield(msg, nil) {
			return connection{stopped: true}
		}
		idle()
		if msg.Kind == KindReset { // the server closes the stream after it
			return connection{retry: true, progress: true, reset: true}
		}
	}
}

// message is the Message of a stream message; ok is false for a kind of
// message this client does not know, which is skipped.
func (c *Client) message(m sseMessage, want expect) (msg Message, ok bool, err error) {
	switch m.event {
	case "", "message":
		var e eventstore.Event
		if err := json.Unmarshal(m.data, &e); err != nil {
			return Message{}, false, &eventstore.Error{Code: eventstore.EINTERNAL, Message: fmt.Sprintf("a stream event: %v", err), Err: err}
		}
		if err := c.check(&e, want); err != nil {
			return Message{}, false, err
		}
		return Message{Kind: KindEvent, Event: &e, Cursor: m.id}, true, nil
	case "caught-up":
		return Message{Kind: KindCaughtUp, Cursor: string(m.data)}, true, nil
	case "reset":
		return Message{Kind: KindReset, Cursor: string(m.data)}, true, nil
	}
	return Message{}, false, nil
}
