package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/eventstore-go/eventstore"
)

// maxResponseBytes bounds a response body read into memory: a page of
// 1,000 events of the largest data allowed, with room to spare.
const maxResponseBytes = 512 << 20

// Client calls one eventstore server. It is safe for concurrent use.
type Client struct {
	base string // scheme://host[/prefix], without a trailing slash
	opts options
}

// New returns a client of the server at baseURL, such as
// "http://127.0.0.1:8080" (a path prefix is kept, for a server behind a
// proxy at "https://example.com/eventstore"). The URL must be http or
// https, with a host and without query or fragment.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, eventstore.WrapError(eventstore.EINVALID, fmt.Errorf("base URL: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, eventstore.Errorf(eventstore.EINVALID, "base URL %q: the scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, eventstore.Errorf(eventstore.EINVALID, "base URL %q has no host", baseURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, eventstore.Errorf(eventstore.EINVALID, "base URL %q: give scheme, host and path only", baseURL)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), opts: defaultOptions()}
	for _, opt := range opts {
		opt(&c.opts)
	}
	return c, nil
}

// contextPath is the path of context ct/cid, its parts escaped.
func contextPath(ct, cid string) string {
	return "/api/v1/contexts/" + url.PathEscape(ct) + "/" + url.PathEscape(cid)
}

// request is one API call.
type request struct {
	method string
	path   string // escaped, after the base URL
	query  url.Values
	body   any  // encoded as JSON; nil: no body
	retry  bool // sending it again cannot change what is stored
}

func (r request) String() string { return r.method + " " + r.path }

// do sends r, with retries if r allows them, and decodes a 2xx answer's
// body into out (unless out is nil). It returns the status of the last
// answer (0 if none came).
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return 0, eventstore.WrapError(eventstore.EINVALID, fmt.Errorf("%s: encoding the body: %w", r, err))
		}
	}
	for attempt := 0; ; attempt++ {
		status, again, err := c.once(ctx, r, body, out)
		if err == nil || !again.ok || !r.retry || attempt+1 >= c.opts.attempts {
			return status, err
		}
		if werr := sleep(ctx, c.backoff(attempt, again.after)); werr != nil {
			return status, fmt.Errorf("%w (giving up: %w)", err, werr)
		}
	}
}

// once makes one attempt at r and says whether another may succeed.
func (c *Client) once(ctx context.Context, r request, body []byte, out any) (int, retryHint, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return 0, retryHint{}, eventstore.WrapError(eventstore.EINVALID, err)
	}
	c.header(req)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.opts.http.Do(req)
	if err != nil {
		return 0, retryHint{ok: ctx.Err() == nil}, c.transportError(ctx, r, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return resp.StatusCode, retryHint{ok: ctx.Err() == nil}, c.transportError(ctx, r, err)
	}
	if len(data) > maxResponseBytes {
		return resp.StatusCode, retryHint{}, eventstore.Errorf(eventstore.EINTERNAL, "%s: the answer is larger than %d bytes", r, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, retryHintOf(resp), responseError(r, resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, retryHint{}, &eventstore.Error{Code: eventstore.EINTERNAL,
				Message: fmt.Sprintf("%s: decoding the answer: %v", r, err), Err: err}
		}
	}
	return resp.StatusCode, retryHint{}, nil
}

// header sets what every request carries.
func (c *Client) header(req *http.Request) {
	if c.opts.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.token)
	}
	if c.opts.userAgent != "" {
		req.Header.Set("User-Agent", c.opts.userAgent)
	}
}

// transportError is the error of a request that got no (whole) answer:
// the context's error when it ended, else EUNAVAILABLE.
func (c *Client) transportError(ctx context.Context, r request, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", r, context.Cause(ctx))
	}
	return &eventstore.Error{Code: eventstore.EUNAVAILABLE, Message: fmt.Sprintf("%s %s: %v", r.method, c.base+r.path, err), Err: err}
}
