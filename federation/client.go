package federation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/eventstore-go/eventstore"
)

// requestTimeout bounds every outbound federation call.
const requestTimeout = 20 * time.Second

// callError is a failed outbound call, with a reason for metrics.
type callError struct {
	peer, reason string
	status       int
	err          error
}

func (e *callError) Error() string {
	switch {
	case e.status != 0 && e.reason == "status":
		return fmt.Sprintf("%s answered %d: %v", e.peer, e.status, e.err)
	case e.status != 0:
		return fmt.Sprintf("%s answered %d (%s): %v", e.peer, e.status, e.reason, e.err)
	}
	return fmt.Sprintf("%s: %s: %v", e.peer, e.reason, e.err)
}

func (e *callError) Unwrap() error { return e.err }

// answerError is a peer's answer other than 2xx: its problem code is the
// reason, when it sent a problem.
func answerError(peer string, status int, raw []byte) *callError {
	var prob struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	reason := "status"
	if json.Unmarshal(raw, &prob) == nil && prob.Code != "" {
		reason = prob.Code
	}
	return &callError{peer: peer, reason: reason, status: status, err: errors.New(answerDetail(prob.Detail, raw))}
}

// answerDetail is what to say of a failed answer's body: a problem's
// detail, or the start of whatever text it is.
func answerDetail(detail string, raw []byte) string {
	if detail != "" {
		return detail
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(raw), "?"))
	if len(text) > 200 {
		text = strings.ToValidUTF8(text[:200], "") + "…" // not half a character
	}
	if text == "" {
		return "no explanation given"
	}
	return text
}

// call sends a signed request to a peer and decodes the JSON answer into
// out (if not nil).
func (f *Federation) call(ctx context.Context, peer, method, path string, in, out any) error {
	p, ok := f.dir.peer(peer)
	if !ok {
		return &callError{peer: peer, reason: "unknown", err: fmt.Errorf("unknown server %s", peer)}
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	signRequest(req, f.cfg.Keys.Current, f.cfg.Server, peer, body, f.now())
	res, err := f.cfg.Client.Do(req)
	if err != nil {
		f.metrics.failed(peer, "network")
		return &callError{peer: peer, reason: "network", err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxRequestBytes))
	if err != nil {
		f.metrics.failed(peer, "network")
		return &callError{peer: peer, reason: "network", err: err}
	}
	if res.StatusCode/100 != 2 {
		e := answerError(peer, res.StatusCode, raw)
		f.metrics.failed(peer, e.reason)
		return e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			f.metrics.failed(peer, "malformed")
			return &callError{peer: peer, reason: "malformed", err: err}
		}
	}
	return nil
}

// decodeEvents reads events from a peer's answer and checks each one's
// signature; the hashes are checked when they are stored.
func (f *Federation) decodeEvents(ctx context.Context, raws []json.RawMessage) ([]*eventstore.Event, error) {
	events := make([]*eventstore.Event, 0, len(raws))
	for _, raw := range raws {
		var e eventstore.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		if err := f.checkRemote(ctx, &e); err != nil {
			return nil, err
		}
		events = append(events, &e)
	}
	return events, nil
}

// checkRemote checks what only a receiver can of an event from another
// server: that it is not dated too far ahead of this server's clock (a
// local event is dated after its parents, so one far-future event would
// drag every later one there), and its signature by its origin (src).
func (f *Federation) checkRemote(ctx context.Context, e *eventstore.Event) error {
	if limit := f.now().Add(f.cfg.MaxSkew).UnixMilli(); e.TS > limit {
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s is dated %s, more than %v ahead of this server's clock",
			e.ID, time.UnixMilli(e.TS).UTC().Format(time.RFC3339), f.cfg.MaxSkew)
	}
	return f.checkSignature(ctx, e)
}

// checkSignature verifies an event's signature by its origin (src).
func (f *Federation) checkSignature(ctx context.Context, e *eventstore.Event) error {
	keyID := ""
	for id := range e.Sigs {
		keyID = id
	}
	keys, err := f.dir.keys(ctx, e.Src, keyID)
	if err != nil {
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s: %v", e.ID, err)
	}
	// A retired key verifies only events dated before its retirement (with
	// the grace KeyHistory allows too): it signs nothing new.
	valid := slices.DeleteFunc(slices.Clone(keys), func(k *Key) bool {
		return !k.Expired.IsZero() && e.TS-RetiredKeyGrace.Milliseconds() >= k.Expired.UnixMilli()
	})
	if err := verifyEvent(valid, e.ID, e.Sigs); err != nil {
		if len(valid) < len(keys) {
			err = fmt.Errorf("%w (a key retired before ts %d does not count)", err, e.TS)
		}
		return eventstore.Errorf(eventstore.EINVALIDDATA, "event %s from %s: %v", e.ID, e.Src, err)
	}
	return nil
}

// historyTimeout bounds one history stream.
const historyTimeout = 30 * time.Minute

// stream sends a signed GET to a peer and calls fn with every line of the
// answer.
func (f *Federation) stream(ctx context.Context, peer, path string, fn func(line []byte) error) error {
	p, ok := f.dir.peer(peer)
	if !ok {
		return &callError{peer: peer, reason: "unknown", err: fmt.Errorf("unknown server %s", peer)}
	}
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	signRequest(req, f.cfg.Keys.Current, f.cfg.Server, peer, nil, f.now())
	client := *f.cfg.Client
	client.Timeout = 0 // the context bounds the stream
	res, err := client.Do(req)
	if err != nil {
		f.metrics.failed(peer, "network")
		return &callError{peer: peer, reason: "network", err: err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		e := answerError(peer, res.StatusCode, raw)
		f.metrics.failed(peer, e.reason)
		return e
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		f.metrics.failed(peer, "network")
		return &callError{peer: peer, reason: "network", err: err}
	}
	return nil
}
