package federation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/internal/httperr"
)

// Handler serves the federation API under Prefix. Every refused or
// failed request is answered, logged and counted by one adapter (f.errs).
func (f *Federation) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(httperr.TrackBody)
	handle := f.errs.Handle
	r.Get(Prefix+"/keys", handle(f.handleKeys))
	signed := r.With(f.authenticate)
	signed.Put(Prefix+"/send/{txn}", handle(f.handleSend))
	signed.Get(Prefix+"/contexts/{ct}/{cid}/events", handle(f.participantOnly(f.handleHistory)))
	signed.Post(Prefix+"/contexts/{ct}/{cid}/missing", handle(f.participantOnly(f.handleMissing)))
	signed.Get(Prefix+"/contexts/{ct}/{cid}/leaves", handle(f.participantOnly(f.handleLeaves)))
	signed.Post(Prefix+"/contexts/{ct}/{cid}/invite", handle(f.handleInvite))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		f.errs.Fail(w, r, eventstore.Errorf(eventstore.ENOTFOUND, "no such federation endpoint: %s %s", r.Method, r.URL.Path))
	})
	return r
}

// decodeBody reads a request body of one JSON value into v; anything else
// (not JSON, too deep, null, trailing data) is the client's mistake.
func decodeBody(r *http.Request, what string, v any) error {
	dec := json.NewDecoder(r.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return eventstore.Errorf(eventstore.EINVALID, "%s: %v", what, err)
	}
	if dec.More() {
		return eventstore.Errorf(eventstore.EINVALID, "%s: data after the JSON value", what)
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return eventstore.Errorf(eventstore.EINVALID, "%s: the body is null", what)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return eventstore.Errorf(eventstore.EINVALID, "%s: %v", what, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

func (f *Federation) handleKeys(w http.ResponseWriter, r *http.Request) error {
	ring := f.cfg.Keys
	kr := keysResponse{Server: f.cfg.Server, ValidUntil: f.now().Add(24 * time.Hour).UnixMilli()}
	kr.Keys = append(kr.Keys, publishedKey{ID: ring.Current.ID, PublicKey: base64.RawURLEncoding.EncodeToString(ring.Current.Public)})
	for _, k := range ring.Old {
		kr.Keys = append(kr.Keys, publishedKey{ID: k.ID, PublicKey: base64.RawURLEncoding.EncodeToString(k.Public),
			Expired: k.Expired.UnixMilli()})
	}
	return writeJSON(w, http.StatusOK, kr)
}

// originKey is where authenticate leaves the verified origin.
type originKey struct{}

func originOf(ctx context.Context) string { s, _ := ctx.Value(originKey{}).(string); return s }

// authenticate lets a request through only if it is signed by a known
// peer, addressed to this server, recent and not seen before. Everything
// the Authorization header says is checked before the body is read; the
// body is read with a size bound and a deadline, then the signature over
// it is verified; only an authenticated request is charged to its peer's
// rate limit. Failed requests are limited by source address, so that
// garbage claiming to come from a peer cannot use up that peer's limit.
func (f *Federation) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin, addr := "unknown", sourceAddress(r)
		if !f.failures.ok(addr) {
			f.metrics.refused(origin, string(eventstore.ERATELIMITED))
			f.errs.Fail(w, r, eventstore.Errorf(eventstore.ERATELIMITED, "too many failed requests from %s; slow down", addr))
			return
		}
		unauthorized := func(format string, args ...any) {
			f.failures.failed(addr)
			f.metrics.refused(origin, string(eventstore.EUNAUTHORIZED))
			f.errs.Fail(w, r, eventstore.Errorf(eventstore.EUNAUTHORIZED, format, args...))
		}
		a, err := parseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			unauthorized("%v", err)
			return
		}
		if a.destination != f.cfg.Server {
			unauthorized("the request is addressed to %s, this is %s", a.destination, f.cfg.Server)
			return
		}
		if _, ok := f.dir.peer(a.origin); !ok {
			unauthorized("unknown server %s", a.origin)
			return
		}
		origin = a.origin
		now := f.now().UnixMilli()
		if a.ts < now-requestWindow || a.ts > now+requestWindow {
			unauthorized("the request was signed at %d, more than %d s from now (%d): stale or replayed", a.ts, requestWindow/1000, now)
			return
		}
		keys, err := f.dir.keys(r.Context(), a.origin, a.key)
		if err != nil {
			unauthorized("cannot get the keys of %s: %v", a.origin, err)
			return
		}
		i := slices.IndexFunc(keys, func(k *Key) bool { return k.ID == a.key })
		switch {
		case i < 0:
			unauthorized("%s has no key %s", a.origin, a.key)
			return
		case !keys[i].Expired.IsZero():
			unauthorized("key %s of %s was retired at %s; it signs nothing new", a.key, a.origin, keys[i].Expired.UTC().Format(time.RFC3339))
			return
		}
		if r.ContentLength > MaxRequestBytes {
			f.failures.failed(addr)
			f.errs.Fail(w, r, eventstore.Errorf(eventstore.ETOOLARGE, "the request body is larger than %d bytes", MaxRequestBytes))
			return
		}
		body, err := readBody(w, r, f.cfg.BodyTimeout)
		if err != nil {
			f.failures.failed(addr)
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				f.errs.Fail(w, r, eventstore.Errorf(eventstore.ETOOLARGE, "the request body is larger than %d bytes", MaxRequestBytes))
			} else {
				f.errs.Fail(w, r, eventstore.Errorf(eventstore.EINVALID, "reading the request body: %v", err))
			}
			return
		}
		if !ed25519.Verify(keys[i].Public, requestText(r.Method, r.URL.RequestURI(), a.origin, a.destination, a.ts, body), a.sig) {
			unauthorized("the request signature is not valid for %s (key %s)", a.origin, a.key)
			return
		}
		if !f.limits.allow(origin) {
			f.metrics.refused(origin, string(eventstore.ERATELIMITED))
			f.errs.Fail(w, r, eventstore.Errorf(eventstore.ERATELIMITED, "%s makes too many requests; slow down", origin))
			return
		}
		if fresh, err := f.replays.first(r.Context(), a.origin, a.sig, a.ts); err != nil {
			f.errs.Fail(w, r, err)
			return
		} else if !fresh {
			unauthorized("this request was already received (replayed)")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), originKey{}, a.origin)))
	})
}

// sourceAddress is the host a request came from.
func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// participantOnly refuses requests from servers that do not take part in
// the context of the path.
func (f *Federation) participantOnly(h httperr.HandlerFunc) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ct, cid, origin := chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), originOf(r.Context())
		ok, err := f.participant(r.Context(), ct, cid, origin)
		if err != nil {
			return err
		}
		if !ok {
			f.metrics.refused(origin, string(eventstore.EFORBIDDEN))
			return eventstore.Errorf(eventstore.EFORBIDDEN, "%s does not take part in %s/%s", origin, ct, cid)
		}
		return h(w, r)
	}
}

func (f *Federation) handleSend(w http.ResponseWriter, r *http.Request) error {
	origin, txn := originOf(r.Context()), chi.URLParam(r, "txn")
	var t transaction
	if err := decodeBody(r, "transaction", &t); err != nil {
		return err
	}
	if t.Origin != origin {
		return eventstore.Errorf(eventstore.EINVALID, "the transaction says origin %q, the request is from %s", t.Origin, origin)
	}
	if len(t.Events) > MaxTransactionEvents {
		return eventstore.Errorf(eventstore.EINVALID, "%d events in a transaction; at most %d", len(t.Events), MaxTransactionEvents)
	}
	if res, ok, err := f.seenTransaction(r.Context(), origin, txn); err != nil {
		return err
	} else if ok {
		return writeJSON(w, http.StatusOK, res)
	}
	start := f.now()
	results := f.receive(r.Context(), origin, t.Events)
	f.log.Debug("federation: received a transaction", "origin", origin, "events", len(t.Events), "took", time.Since(start))
	res := transactionResult{Results: results}
	forbidden := len(results) > 0
	for _, er := range results {
		forbidden = forbidden && er.Status == StatusForbidden
	}
	if forbidden {
		return eventstore.Errorf(eventstore.EFORBIDDEN, "%s does not take part in the contexts of these events", origin)
	}
	if err := f.recordTransaction(r.Context(), origin, txn, res); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// handleHistory streams a context's whole history, parents first, one
// event per line (JSON), from one database cursor; a last line
// {"end": true, "events": n} says the stream is complete.
func (f *Federation) handleHistory(w http.ResponseWriter, r *http.Request) error {
	ct, cid := chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	err := f.st.History(r.Context(), ct, cid, func(e *eventstore.Event) error {
		raw, err := wireEvent(e)
		if err != nil {
			return err
		}
		n++
		bw.Write(raw)
		return bw.WriteByte('\n')
	})
	if err != nil {
		if n == 0 { // nothing sent yet: a proper error answer
			return err
		}
		f.log.Warn("federation: history stream broken", "ct", ct, "cid", cid, "err", err)
		return nil // the receiver sees no end line and tries again
	}
	fmt.Fprintf(bw, `{"end":true,"events":%d}`+"\n", n)
	return bw.Flush()
}

func (f *Federation) handleMissing(w http.ResponseWriter, r *http.Request) error {
	var req missingRequest
	if err := decodeBody(r, "missing events request", &req); err != nil {
		return err
	}
	switch {
	case len(req.Want) == 0:
		return eventstore.Errorf(eventstore.EINVALID, "missing events request: want names no event")
	case len(req.Want) > MaxWanted || len(req.Have) > MaxWanted:
		return eventstore.Errorf(eventstore.EINVALID, "missing events request: %d ids in want and %d in have; at most %d each",
			len(req.Want), len(req.Have), MaxWanted)
	}
	if req.Limit < 1 || req.Limit > MaxMissing {
		req.Limit = MaxMissing
	}
	events, err := f.st.Missing(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), req.Want, req.Have, req.Limit)
	if err != nil {
		return err
	}
	out := eventsResponse{Events: make([]json.RawMessage, 0, len(events))}
	for _, e := range events {
		raw, err := wireEvent(e)
		if err != nil {
			return err
		}
		out.Events = append(out.Events, raw)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (f *Federation) handleLeaves(w http.ResponseWriter, r *http.Request) error {
	sum, err := f.st.Summary(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, leavesResponse{Leaves: sum.Leaves, Version: sum.Version})
}

// wireEvent is an event as federation sends it: as the API shows it, but
// without the local isLeaf and with o as originally written (d is folded
// by every receiver from the update events, never taken from a peer).
func wireEvent(e *eventstore.Event) (json.RawMessage, error) {
	c := *e
	c.IsLeaf = false
	c.D = nil
	return c.MarshalJSON()
}

// replayRecord remembers the signatures of the requests received within
// the signing window, in the database: a request replayed within the window
// is refused the same way after a restart, and by every process sharing
// the database. A signature is inserted by _id, so a second insert of it
// fails whoever tries; entries older than the window are pruned.
type replayRecord struct {
	c *database.Collection
}

type replayDoc struct {
	ID string        `bson:"_id"` // origin and the base64url signature
	TS bson.DateTime `bson:"ts"`  // the request's signing time
}

// first records a request and reports whether it is new.
func (c *replayRecord) first(ctx context.Context, origin string, sig []byte, ts int64) (bool, error) {
	err := c.c.InsertOne(ctx, replayDoc{ID: origin + " " + base64.RawURLEncoding.EncodeToString(sig), TS: bson.DateTime(ts)})
	if database.IsDuplicate(err) {
		return false, nil
	}
	return err == nil, err
}

// prune forgets the requests signed before the window around now. Its
// filter reads every signature kept on FerretDB (and on MongoDB, without
// an index on ts): those of one signing window, a minute of requests,
// which the rate limits bound.
func (c *replayRecord) prune(ctx context.Context, now time.Time) error {
	_, err := c.c.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: bson.DateTime(now.UnixMilli() - 2*requestWindow)}}}})
	return err
}

// readBody reads r's body (at most MaxRequestBytes) within timeout, so
// that a body trickled a byte at a time does not hold a connection for
// good. The deadline is the connection's: it is set only while there is a
// body to read, and cleared after. A request without one has net/http
// already reading the connection behind the handler, and a deadline set
// then fires in that read once the handler runs past it: net/http then
// cancels the connection's context, and every later request on the
// keep-alive connection fails at once with "context canceled". (A body
// that failed keeps its deadline, so the rest of it is not waited for,
// and the connection is closed after the answer.)
func readBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		// net/http has cancelled the connection's context on the failed
		// read: the connection must not carry another request.
		w.Header().Set("Connection", "close")
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}
