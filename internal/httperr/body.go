package httperr

import (
	"io"
	"net/http"
	"sync/atomic"
)

// TrackBody lets WriteProblem know whether a request's body was read to
// its end. A refusal answered before the body was read (no token, an
// unknown path, a bad signature) then closes the connection at once:
// otherwise net/http reads up to 256 KiB of the unread body, before it
// writes the answer and again when the handler ends, so a client
// trickling its body a byte a second would get no answer and hold the
// connection and its goroutine as long as it liked.
func TrackBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if _, ok := r.Body.(*trackedBody); ok {
			next.ServeHTTP(w, r)
			return
		}
		// A shallow copy: the server's own request keeps its body, which
		// net/http inspects after the handler.
		r = r.WithContext(r.Context())
		r.Body = &trackedBody{ReadCloser: r.Body}
		next.ServeHTTP(w, r)
	})
}

// trackedBody is a request body that remembers when a read ended it (EOF
// or an error: either way nothing more of it will be read).
type trackedBody struct {
	io.ReadCloser
	ended atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended.Store(true)
	}
	return n, err
}

// unreadBody reports whether r has a tracked body that no read has ended.
func unreadBody(r *http.Request) bool {
	b, ok := r.Body.(*trackedBody)
	return ok && !b.ended.Load()
}
