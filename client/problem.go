package client

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/eventstore-go/eventstore"
)

// problem is an RFC 9457 problem detail as the server writes it, with the
// stable code.
type problem struct {
	Title  string          `json:"title"`
	Status int             `json:"status"`
	Detail string          `json:"detail"`
	Code   eventstore.Code `json:"code"`
}

// responseError is the *eventstore.Error of a failed answer: the problem's
// code and detail, as the server's handler had them; without a problem
// body (a proxy's error page, say), the code of the HTTP status and a
// message naming the request.
func responseError(r request, resp *http.Response, body []byte) error {
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p problem
	if (media == "application/problem+json" || media == "application/json") && json.Unmarshal(body, &p) == nil && p.Code != "" {
		msg := p.Detail
		if msg == "" {
			msg = p.Title
		}
		return &eventstore.Error{Code: p.Code, Message: msg}
	}
	msg := fmt.Sprintf("%s: HTTP %s", r, resp.Status)
	if text := snippet(body); text != "" {
		msg += ": " + text
	}
	return &eventstore.Error{Code: statusCode(resp.StatusCode), Message: msg}
}

// statusCode is the error code an HTTP status stands for, the reverse of
// the server's map (internal/httperr).
func statusCode(status int) eventstore.Code {
	switch status {
	case http.StatusUnauthorized:
		return eventstore.EUNAUTHORIZED
	case http.StatusForbidden:
		return eventstore.EFORBIDDEN
	case http.StatusNotFound:
		return eventstore.ENOTFOUND
	case http.StatusConflict:
		return eventstore.ECONFLICT
	case http.StatusGone:
		return eventstore.EGONE
	case http.StatusRequestEntityTooLarge:
		return eventstore.ETOOLARGE
	case http.StatusTooManyRequests:
		return eventstore.ERATELIMITED
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return eventstore.EUNAVAILABLE
	}
	if status >= 400 && status < 500 {
		return eventstore.EINVALID
	}
	return eventstore.EINTERNAL
}

// snippet is the start of a non-problem error body, on one line, if it is
// text.
func snippet(body []byte) string {
	const maxSnippet = 200
	if len(body) > maxSnippet {
		body = body[:maxSnippet]
	}
	for !utf8.Valid(body) && len(body) > 0 { // cut inside a rune
		body = body[:len(body)-1]
	}
	return strings.Join(strings.Fields(string(body)), " ")
}
