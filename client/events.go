package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/eventstore-go/eventstore"
)

// NewContext is the genesis event of a new context.
type NewContext struct {
	T string // the event type; "" for the context type
	O any    // the data: any value that encodes to a JSON object, or a json.RawMessage; nil for {}
}

// CreateContext creates context ct/cid and returns its genesis event
// (201). It fails with eventstore.EEXISTS if the context exists. It is
// not retried: a retry after a lost answer would get EEXISTS for the
// context this call created.
func (c *Client) CreateContext(ctx context.Context, ct, cid string, nc NewContext) (*eventstore.Event, error) {
	body := struct {
		T string `json:"t,omitempty"`
		O any    `json:"o,omitempty"`
	}{nc.T, nc.O}
	var e eventstore.Event
	if _, err := c.do(ctx, request{method: http.MethodPost, path: contextPath(ct, cid), body: body}, &e); err != nil {
		return nil, err
	}
	if err := c.check(&e, expect{ct: ct, cid: cid}); err != nil {
		return nil, err
	}
	return &e, nil
}

// NewEvent is an event to append.
type NewEvent struct {
	T string // the event type, required
	O any    // the data: any value that encodes to a JSON object, or a json.RawMessage; nil for {}
	// Clid is the client's id for the event, unique in the context: an
	// append with a clid already used returns the event stored with it
	// and stores nothing. It makes the append safe to retry.
	Clid string
	// Pids, when not nil, are the leaves the client expects the context
	// to have; if they are not the current leaves the append fails with
	// eventstore.ECONFLICT (optimistic concurrency).
	Pids []string
}

// Append appends an event to context ct/cid and returns it as stored;
// created is false when the server answered 200, because e.Clid was
// already used in the context, and ev is then the event stored with it.
//
// An append with a Clid is retried on network errors, 5xx and 429
// (WithRetry): the server answers a retry with the event the first
// attempt stored, so a message is never stored twice. created then
// reports the last answer: after a lost 201 it is false, though this call
// stored the event. An append without a Clid is sent once: the server
// cannot tell a retry from a new message, so a retry after an answer lost
// on the way back would store the message twice.
func (c *Client) Append(ctx context.Context, ct, cid string, e NewEvent) (ev *eventstore.Event, created bool, err error) {
	body := struct {
		T    string    `json:"t"`
		O    any       `json:"o,omitempty"`
		Clid string    `json:"clid,omitempty"`
		Pids *[]string `json:"pids,omitempty"`
	}{T: e.T, O: e.O, Clid: e.Clid}
	if e.Pids != nil {
		body.Pids = &e.Pids
	}
	var stored eventstore.Event
	status, err := c.do(ctx, request{method: http.MethodPost, path: contextPath(ct, cid) + "/events", body: body, retry: e.Clid != ""}, &stored)
	if err != nil {
		return nil, false, err
	}
	if err := c.check(&stored, expect{ct: ct, cid: cid, t: e.T, clid: e.Clid}); err != nil {
		return nil, false, err
	}
	return &stored, status == http.StatusCreated, nil
}

// Get returns event id of context ct/cid with its current d (after
// updates; no o and no d once deleted). eventstore.ENOTFOUND if there is
// no such event.
func (c *Client) Get(ctx context.Context, ct, cid, id string) (*eventstore.Event, error) {
	var e eventstore.Event
	if _, err := c.do(ctx, request{method: http.MethodGet, path: contextPath(ct, cid) + "/events/" + url.PathEscape(id), retry: true}, &e); err != nil {
		return nil, err
	}
	if err := c.check(&e, expect{ct: ct, cid: cid, id: id}); err != nil {
		return nil, err
	}
	return &e, nil
}

// Direction is the way a listing reads a context's timeline.
type Direction string

// Directions.
const (
	Forward  Direction = "f" // oldest first, after From
	Backward Direction = "b" // newest first, before From
)

// ListOptions select a page of a context's timeline.
type ListOptions struct {
	Dir   Direction // Forward when empty
	From  string    // a cursor (a page's Next, Start or End, or a stream message's); "": the start (Forward) or the end (Backward)
	Limit int       // events per page, 1 to 1,000; 0: the server's default (100)
	T     string    // only events of this type ("msg"), or of a prefix ("message.*")
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Dir != "" {
		q.Set("dir", string(o.Dir))
	}
	if o.From != "" {
		q.Set("from", o.From)
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.T != "" {
		q.Set("t", o.T)
	}
	return q
}

// Page is a page of a context's timeline. Cursors are opaque: pass them
// back, do not build or compare them.
type Page struct {
	Events []*eventstore.Event // in the direction asked for
	Next   string              // the cursor of the next page; "" when the page reached the end (Forward) or the genesis (Backward)
	Start  string              // the boundary the page starts at
	End    string              // the boundary past everything the page covers: where to continue later when Next is ""
}

// List returns one page of context ct/cid's timeline. A cursor of another
// context or server is eventstore.EBADCURSOR.
func (c *Client) List(ctx context.Context, ct, cid string, o ListOptions) (*Page, error) {
	var page struct {
		Events []*eventstore.Event `json:"events"`
		Start  string              `json:"start"`
		End    string              `json:"end"`
		Next   string              `json:"next"`
	}
	r := request{method: http.MethodGet, path: contextPath(ct, cid) + "/events", query: o.query(), retry: true}
	if _, err := c.do(ctx, r, &page); err != nil {
		return nil, err
	}
	for _, e := range page.Events {
		if err := c.check(e, expect{ct: ct, cid: cid}); err != nil {
			return nil, err
		}
	}
	return &Page{Events: page.Events, Next: page.Next, Start: page.Start, End: page.End}, nil
}

// Events iterates over context ct/cid's timeline from o.From in direction
// o.Dir, page after page (o.Limit events each), until the end; an error
// ends the iteration. With Backward it scrolls back from the newest event
// to the genesis.
func (c *Client) Events(ctx context.Context, ct, cid string, o ListOptions) iter.Seq2[*eventstore.Event, error] {
	return func(yield func(*eventstore.Event, error) bool) {
		for {
			page, err := c.List(ctx, ct, cid, o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range page.Events {
				if !yield(e, nil) {
					return
				}
			}
			if page.Next == "" || page.Next == o.From { // the end, or a server that does not move on
				return
			}
			o.From = page.Next
		}
	}
}

// Edit changes an event's current data d: Set gives members a new value
// by path ("msg", "u.name"), Unset removes them. o, dHash and _id never
// change.
type Edit struct {
	Set   map[string]any
	Unset []string
}

// Update appends an event.update event that applies e to event id's d,
// and returns the update event. eventstore.ENOTFOUND if there is no such
// event, eventstore.EGONE if it was deleted. It is not retried: a retry
// after a lost answer would store a second update.
func (c *Client) Update(ctx context.Context, ct, cid, id string, e Edit) (*eventstore.Event, error) {
	body := struct {
		Set   map[string]any `json:"set,omitempty"`
		Unset []string       `json:"unset,omitempty"`
	}{e.Set, e.Unset}
	var up eventstore.Event
	if _, err := c.do(ctx, request{method: http.MethodPatch, path: contextPath(ct, cid) + "/events/" + url.PathEscape(id), body: body}, &up); err != nil {
		return nil, err
	}
	if err := c.check(&up, expect{ct: ct, cid: cid, t: eventstore.TypeUpdate}); err != nil {
		return nil, err
	}
	return &up, nil
}

// Delete appends an event.delete event for event id, which loses o and d
// (its hashed fields stay), and returns the delete event.
// eventstore.EGONE if it was already deleted. It is not retried: a retry
// after a lost answer would get EGONE for the delete this call made.
func (c *Client) Delete(ctx context.Context, ct, cid, id string) (*eventstore.Event, error) {
	var del eventstore.Event
	if _, err := c.do(ctx, request{method: http.MethodDelete, path: contextPath(ct, cid) + "/events/" + url.PathEscape(id)}, &del); err != nil {
		return nil, err
	}
	if err := c.check(&del, expect{ct: ct, cid: cid, t: eventstore.TypeDelete}); err != nil {
		return nil, err
	}
	return &del, nil
}

// Leaves returns the ids of context ct/cid's leaves: the events no other
// event names as a parent, which the next append takes as its pids.
func (c *Client) Leaves(ctx context.Context, ct, cid string) ([]string, error) {
	var out struct {
		Leaves []string `json:"leaves"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: contextPath(ct, cid) + "/leaves", retry: true}, &out); err != nil {
		return nil, err
	}
	return out.Leaves, nil
}
