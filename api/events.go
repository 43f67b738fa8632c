package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/edits"
	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/internal/httperr"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/stream"
)

// appendRequest is the body of POST …/events.
type appendRequest struct {
	T    string         `json:"t"`
	O    jsontext.Value `json:"o"`
	Clid string         `json:"clid"`
	// Pids, when given, must be the current leaves (optimistic concurrency).
	Pids *[]string `json:"pids"`
}

func handleAppend(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req appendRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		e, existed, err := appendEvent(r.Context(), st, chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), req)
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if existed {
			status = http.StatusOK
		}
		w.Header().Set("Location", eventPath(e))
		return encode(w, status, e)
	}
}

// appendEvent appends what an append request (REST or gateway) asks for.
func appendEvent(ctx context.Context, st Store, ct, cid string, req appendRequest) (*eventstore.Event, bool, error) {
	if req.T == "" {
		return nil, false, eventstore.Errorf(eventstore.EINVALID, "t (the event type) is required")
	}
	in := store.NewEvent{T: req.T, O: dataOf(req.O), Clid: req.Clid}
	if req.Pids != nil {
		in.ExpectedPids = *req.Pids
		if in.ExpectedPids == nil {
			in.ExpectedPids = []string{}
		}
	}
	return st.Append(ctx, ct, cid, in)
}

// dataOf is the raw JSON of o as the store takes it: the store checks it
// under the hashing rules (refusing it as "o: …", EINVALIDDATA) as it
// parses it, once, for storing. Absent or null means {}.
func dataOf(raw jsontext.Value) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.RawMessage(raw)
}

// listResponse is a page of a context's timeline.
type listResponse struct {
	Events []*eventstore.Event `json:"events"`
	Start  string              `json:"start"`          // the boundary the page starts at
	End    string              `json:"end"`            // the boundary after its last event
	Next   string              `json:"next,omitempty"` // end, unless the timeline ends there
}

func handleList(st Store, cursors *stream.Cursors) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ct, cid := chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
		q := r.URL.Query()
		if err := knownParams(q, "dir", "from", "after", "limit", "t"); err != nil {
			return err
		}
		if q.Has("from") && q.Has("after") {
			return eventstore.Errorf(eventstore.EINVALID, "give from or after (another name for it), not both")
		}
		from := q.Get("from") + q.Get("after")
		lq := store.ListQuery{T: q.Get("t")}
		switch d := q.Get("dir"); d {
		case "", "f":
		case "b":
			lq.Backward = true
		default:
			return eventstore.Errorf(eventstore.EINVALID, "dir must be f (oldest first) or b (newest first), not %q", d)
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > store.MaxListLimit {
				return eventstore.Errorf(eventstore.EINVALID, "limit must be an integer from 1 to %d, not %q", store.MaxListLimit, s)
			}
			lq.Limit = n
		}
		// from=start, as streams take it: the start of the timeline, the
		// same as no from when listing oldest first, and an empty page
		// (nothing comes before it) when listing newest first.
		if from == stream.Start && lq.Backward {
			page, err := st.List(r.Context(), ct, cid, store.ListQuery{Limit: 1, T: lq.T})
			if err != nil {
				return err
			}
			start := cursors.EncodeCursor(ct, cid, page.Start)
			return encode(w, http.StatusOK, listResponse{Events: []*eventstore.Event{}, Start: start, End: start})
		}
		if from != "" && from != stream.Start {
			c, err := cursors.DecodeCursor(ct, cid, from)
			if err != nil {
				// The store's refusals come first, as when it read cursors
				// itself: a bad context or filter, a missing context.
				if _, lerr := st.List(r.Context(), ct, cid, store.ListQuery{Limit: 1, T: lq.T}); lerr != nil {
					return lerr
				}
				return err
			}
			lq.From = &c
		}
		page, err := st.List(r.Context(), ct, cid, lq)
		if err != nil {
			return err
		}
		resp := listResponse{Events: page.Events, Start: cursors.EncodeCursor(ct, cid, page.Start), End: cursors.EncodeCursor(ct, cid, page.End)}
		if page.Next != nil {
			resp.Next = resp.End
		}
		return encode(w, http.StatusOK, resp)
	}
}

// knownParams refuses query parameters other than names, and any given
// twice.
func knownParams(q url.Values, names ...string) error {
	for name, values := range q {
		if !slices.Contains(names, name) {
			return eventstore.Errorf(eventstore.EINVALID, "unknown query parameter %q (%s are known)", name, strings.Join(names, ", "))
		}
		if len(values) > 1 {
			return eventstore.Errorf(eventstore.EINVALID, "query parameter %q given %d times", name, len(values))
		}
	}
	return nil
}

func handleGet(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := st.Get(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), chi.URLParam(r, "id"))
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, e)
	}
}

// updateRequest is the body of PATCH …/events/{id}: members of d to set,
// by path ("msg", "u.name"), and paths to remove.
type updateRequest struct {
	Set   map[string]jsontext.Value `json:"set"`
	Unset []string                  `json:"unset"`
}

// editOf is the edit an update request (REST or gateway) asks for.
func editOf(req updateRequest) (edits.Edit, error) {
	ed := edits.Edit{Unset: req.Unset}
	for path, raw := range req.Set {
		v, err := hashing.Parse(raw)
		if err != nil {
			return edits.Edit{}, eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("set %q: %w", path, err))
		}
		ed.Set = append(ed.Set, edits.SetOp{Path: path, Value: v})
	}
	return ed, nil
}

func handleUpdate(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req updateRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		ed, err := editOf(req)
		if err != nil {
			return err
		}
		e, err := st.Update(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), chi.URLParam(r, "id"), ed)
		if err != nil {
			return err
		}
		return encode(w, http.StatusCreated, e)
	}
}

func handleDelete(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := st.Delete(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), chi.URLParam(r, "id"))
		if err != nil {
			return err
		}
		return encode(w, http.StatusCreated, e)
	}
}
