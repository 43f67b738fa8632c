package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	json "github.com/go-json-experiment/json"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/httperr"
	"github.com/eventstore-go/eventstore/stream"
)

// The live streams, as Server-Sent Events on the standard library:
// http.ResponseController flushes each message and sets a write deadline
// per message, so that a client that stops reading is let go rather than
// held for ever. Messages are written by hand: the format is four kinds of
// line (docs/streams.md), which no library would make simpler.

// streamWriteTimeout is how long one message may take to reach the client.
const streamWriteTimeout = 30 * time.Second

// streamRetry is the reconnection delay an EventSource is told to use.
const streamRetry = 2 * time.Second

func handleContextStream(hub *stream.Hub) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := streamRequest(r, "from", "t")
		if err != nil {
			return err
		}
		req.Ct, req.Cid = chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
		return serveStream(w, r, hub, req)
	}
}

func handleServerStream(hub *stream.Hub) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := streamRequest(r, "from", "t", "ct")
		if err != nil {
			return err
		}
		req.Server, req.Ct = true, r.URL.Query().Get("ct")
		return serveStream(w, r, hub, req)
	}
}

// streamRequest reads what both streams take: a resume cursor from
// Last-Event-ID (which wins: an EventSource reconnects to the same URL
// with it) or from, and a type filter.
func streamRequest(r *http.Request, params ...string) (stream.Request, error) {
	q := r.URL.Query()
	if err := knownParams(q, params...); err != nil {
		return stream.Request{}, err
	}
	req := stream.Request{From: q.Get("from"), Transport: "sse"}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		req.From = id
	}
	var err error
	if req.T, err = eventstore.ParseTypeFilter(q.Get("t")); err != nil {
		return stream.Request{}, err
	}
	return req, nil
}

// serveStream answers a stream request: problems before the first byte
// are problem+json answers; after it, the stream just ends.
func serveStream(w http.ResponseWriter, r *http.Request, hub *stream.Hub, req stream.Request) error {
	if hub == nil {
		return eventstore.Errorf(eventstore.EUNAVAILABLE, "live streams are not enabled on this server")
	}
	rc := http.NewResponseController(w)
	started := false
	var buf bytes.Buffer
	send := func(m stream.Message) error {
		buf.Reset()
		first := !started
		if first {
			started = true
			h := w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Accel-Buffering", "no") // proxies that buffer responses: not this one
			w.WriteHeader(http.StatusOK)
			fmt.Fprintf(&buf, "retry: %d\n\n", streamRetry.Milliseconds())
		}
		if err := writeMessage(&buf, m); err != nil {
			return err
		}
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		if first {
			return rc.Flush()
		}
		return nil
	}
	// The first message goes out at once, so that a client knows the
	// stream is open even before anything happens; the others when the
	// stream has sent what it has (several at once when a room is busy).
	req.Flush = func() error {
		if !started {
			return nil
		}
		return rc.Flush()
	}
	ctx := r.Context()
	if p, ok := principalFrom(ctx); ok && p.client != nil {
		// A client token's stream ends when the token does: the client
		// reconnects with a fresh one, from the last id it had.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, p.client.ExpiresAt.Time)
		defer cancel()
	}
	err := hub.Follow(ctx, req, func(m stream.Message) error { return send(m) })
	if !started {
		return err // refused before anything was sent: a problem answer
	}
	return nil
}

// eventData is the JSON of a stream message's event: the encoding the hub
// shares between the streams of a commit, or made here.
func eventData(m stream.Message) ([]byte, error) {
	if m.Data != nil {
		return m.Data, nil
	}
	data, err := json.Marshal(m.Event)
	if err != nil {
		return nil, fmt.Errorf("encoding an event: %w", err)
	}
	return data, nil
}

// sseEvent is the SSE message of an event.
func sseEvent(m stream.Message) ([]byte, error) {
	data, err := eventData(m)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "id: %s\ndata: %s\n\n", m.Cursor, data), nil
}

// writeMessage writes one SSE message: an event with its cursor as id, a
// marker (caught-up, reset) whose data is the cursor, or a comment.
func writeMessage(buf *bytes.Buffer, m stream.Message) error {
	switch m.Kind {
	case stream.KindEvent:
		frame, err := m.Shared("sse", sseEvent)
		if err != nil {
			return err
		}
		buf.Write(frame)
	case stream.KindCaughtUp:
		fmt.Fprintf(buf, "event: caught-up\nid: %s\ndata: %s\n\n", m.Cursor, m.Cursor)
	case stream.KindReset:
		fmt.Fprintf(buf, "event: reset\nid: %s\ndata: %s\n\n", m.Cursor, m.Cursor)
	case stream.KindHeartbeat:
		buf.WriteString(": heartbeat\n\n")
	}
	return nil
}
