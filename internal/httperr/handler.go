package httperr

import (
	"log/slog"
	"net/http"

	"github.com/eventstore-go/eventstore"
)

// HandlerFunc is an HTTP handler that may fail: it returns the error
// instead of answering it, and the Adapter answers.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Adapter turns HandlerFuncs into http.HandlerFuncs, and is the one place
// where a failed request is answered, logged and counted.
type Adapter struct {
	// Log is told about the server's failures (5xx), whose cause the
	// client is not told: unavailable as a warning, out_of_space at debug
	// level (the store logs its cause once, not once per request), the
	// rest as errors. Nil: nothing is logged.
	Log *slog.Logger
	// Count, when set, is told the code of every problem answered, for a
	// metric with the code as its one label.
	Count func(code eventstore.Code)
}

// Handle returns h as an http.HandlerFunc that answers h's error with Fail.
func (a Adapter) Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.Fail(w, r, err)
		}
	}
}

// Fail answers err as problem+json (WriteProblem), logs it when it is a
// server error and counts it.
func (a Adapter) Fail(w http.ResponseWriter, r *http.Request, err error) {
	code := eventstore.ErrorCode(err)
	if status := Status(code); status >= 500 && a.Log != nil {
		level := slog.LevelError
		switch {
		case code == eventstore.EOUTOFSPACE:
			level = slog.LevelDebug
		case status == http.StatusServiceUnavailable:
			level = slog.LevelWarn // the database is away; the client retries
		}
		a.Log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if a.Count != nil {
		a.Count(code)
	}
	WriteProblem(w, r, err)
}
