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
	"github.com/eventstore-go/eventstore/internal/httperr"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 256 << 10

// decode reads a JSON request body into v strictly: unknown members,
// duplicate members, invalid UTF-8 and wrong types are refused, as is a
// body over MaxBodyBytes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return eventstore.Errorf(httperr.EUNSUPPORTEDMEDIATYPE, "the body must be JSON with Content-Type: application/json, not %q", ct)
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
