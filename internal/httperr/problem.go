package httperr

import (
	"net/http"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/eventstore-go/eventstore"
)

// Codes only the HTTP layer produces.
const (
	EMETHODNOTALLOWED     eventstore.Code = "method_not_allowed"
	EUNSUPPORTEDMEDIATYPE eventstore.Code = "unsupported_media_type"
)

// Status maps an error code to its HTTP status: the one place that does.
// Unknown codes are internal errors (500).
func Status(code eventstore.Code) int {
	switch code {
	case eventstore.EINVALID, eventstore.EINVALIDDATA, eventstore.EBADCURSOR:
		return http.StatusBadRequest
	case eventstore.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case eventstore.EFORBIDDEN:
		return http.StatusForbidden
	case eventstore.ENOTFOUND:
		return http.StatusNotFound
	case EMETHODNOTALLOWED:
		return http.StatusMethodNotAllowed
	case EUNSUPPORTEDMEDIATYPE:
		return http.StatusUnsupportedMediaType
	case eventstore.ERATELIMITED:
		return http.StatusTooManyRequests
	case eventstore.ECONFLICT, eventstore.EEXISTS, eventstore.ECLIDREUSED:
		return http.StatusConflict
	case eventstore.EGONE:
		return http.StatusGone
	case eventstore.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case eventstore.EUNAVAILABLE, eventstore.EOUTOFSPACE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// problem is an RFC 9457 problem detail with the stable code.
type problem struct {
	Type     string          `json:"type"`
	Title    string          `json:"title"`
	Status   int             `json:"status"`
	Detail   string          `json:"detail,omitempty"`
	Code     eventstore.Code `json:"code"`
	Instance string          `json:"instance,omitempty"`
}

// WriteProblem answers with err as application/problem+json, the status
// from its code and the detail its client-safe message. A 401 names the
// bearer realm; a 429 and a 503 ask the client to retry after a second
// (out_of_space: ten).
// An answer to a request whose body was not read (see TrackBody) closes
// the connection.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := eventstore.ErrorCode(err)
	status := Status(code)
	if unreadBody(r) {
		// Closing the connection is not enough: net/http still reads the
		// rest of the body (up to 256 KiB) when the handler ends. A read
		// deadline in the past ends that read at once.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: eventstore.ErrorMessage(err), Code: code, Instance: r.URL.Path}
	b, _ := json.Marshal(p)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventstore"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		retry := "1"
		if code == eventstore.EOUTOFSPACE {
			retry = "10" // space comes back when an operator frees it, not in a second
		}
		w.Header().Set("Retry-After", retry)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
