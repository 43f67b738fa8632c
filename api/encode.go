package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventstore-go/eventstore"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 256 << 10

// decode reads a JSON request body into v strictly: unknown members,
// duplicate members, invalid UTF-8 and wrong types are refused, as is a
// body over MaxBodyBytes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return eventstore.Errorf(codeUnsupportedMediaType, "the body must be JSON with Content-Type: application/json, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return eventstore.Errorf(eventstore.ETOOLARGE, "the request body is larger than %d bytes", MaxBodyBytes)
	case err != nil:
		return eventstore.Errorf(eventstore.EINVALID, "reading the request body: %v", err)
	case len(body) == 0:
		return eventstore.Errorf(eventstore.EINVALID, "the request body is empty; a JSON object is expected")
	}
	err = json.Unmarshal(body, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && inData(syn.JSONPointer) {
		// Invalid text inside event data: decode leniently and let the
		// handler's hashing rules name the exact problem (and code).
		lenient := json.Unmarshal(body, v, json.RejectUnknownMembers(true),
			jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
		if lenient == nil {
			return nil
		}
	}
	return eventstore.Errorf(eventstore.EINVALID, "request body: %s", describeJSONError(err))
}

// inData reports whether a JSON pointer is inside the event data o.
func inData(p jsontext.Pointer) bool {
	return p == "/o" || strings.HasPrefix(string(p), "/o/")
}

// describeJSONError says what is wrong with a request body in the
// client's terms: JSON pointers and JSON types, not Go types.
func describeJSONError(err error) string {
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		switch {
		case errors.Is(sem.Err, json.ErrUnknownName):
			return fmt.Sprintf("unknown member %q", sem.JSONPointer.LastToken())
		case sem.GoType != nil && sem.JSONKind != 0:
			return fmt.Sprintf("%s must be %s, not %s", where(sem.JSONPointer), jsonType(sem.GoType), kindName(sem.JSONKind))
		}
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && syn.Err != nil {
		return fmt.Sprintf("%s at %s (byte %d)", strings.TrimPrefix(syn.Err.Error(), "jsontext: "), where(syn.JSONPointer), syn.ByteOffset)
	}
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "json: "), "jsontext: ")
}

func where(p jsontext.Pointer) string {
	if p == "" {
		return "the body"
	}
	return string(p)
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		if t.Elem().Kind() == reflect.Uint8 { // jsontext.Value
			return "a JSON value"
		}
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	}
	return t.Kind().String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return k.String()
}

// encode writes v as JSON with the given status.
func encode(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// problem is an RFC 9457 problem detail with the stable code.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Code     string `json:"code"`
	Instance string `json:"instance,omitempty"`
}

// statusOf maps a domain error code to its HTTP status: the one place
// that does.
func statusOf(code string) int {
	switch code {
	case eventstore.EINVALID, eventstore.EINVALIDDATA, eventstore.EBADCURSOR:
		return http.StatusBadRequest
	case eventstore.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case eventstore.EFORBIDDEN:
		return http.StatusForbidden
	case eventstore.ENOTFOUND:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case "rate_limited":
		return http.StatusTooManyRequests
	case eventstore.ECONFLICT, eventstore.EEXISTS:
		return http.StatusConflict
	case eventstore.EGONE:
		return http.StatusGone
	case eventstore.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case eventstore.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Codes only the HTTP layer produces.
const (
	codeMethodNotAllowed     = "method_not_allowed"
	codeUnsupportedMediaType = "unsupported_media_type"
)

// WriteProblem answers with err as problem+json, the status from its code;
// the federation endpoints answer the same way.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) { writeProblem(w, r, err) }

// writeProblem answers with err as problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := eventstore.ErrorCode(err)
	status := statusOf(code)
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: eventstore.ErrorMessage(err), Code: code, Instance: r.URL.Path}
	b, _ := json.Marshal(p)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventstore"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
