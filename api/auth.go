package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/eventstore-go/eventstore"
)

// Scope is what a token may do. Each scope includes the ones below it:
// admin ⊃ write ⊃ read.
type Scope int

const (
	ScopeRead  Scope = iota + 1 // read events and contexts
	ScopeWrite                  // create contexts, append, update, delete
	ScopeAdmin                  // administration: metrics, sharing contexts with other servers
)

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// ParseScope reads "read", "write" or "admin".
func ParseScope(s string) (Scope, error) {
	for _, sc := range []Scope{ScopeRead, ScopeWrite, ScopeAdmin} {
		if s == sc.String() {
			return sc, nil
		}
	}
	return 0, fmt.Errorf("unknown scope %q (want read, write or admin)", s)
}

// Token is a bearer token and its scope.
type Token struct {
	Scope  Scope
	Secret string
}

// ParseToken reads a token given as "scope:secret".
func ParseToken(s string) (Token, error) {
	scope, secret, ok := strings.Cut(s, ":")
	if !ok || secret == "" {
		return Token{}, fmt.Errorf("token must be given as scope:secret (scope read, write or admin)")
	}
	sc, err := ParseScope(scope)
	if err != nil {
		return Token{}, err
	}
	if len(secret) < 16 {
		return Token{}, fmt.Errorf("the %s token is too short: use at least 16 characters", scope)
	}
	return Token{Scope: sc, Secret: secret}, nil
}

// authenticator checks bearer tokens. With no tokens it lets everything
// through (the server then only listens on loopback; see cmd/eventstore).
type authenticator struct {
	digests [][sha256.Size]byte
	scopes  []Scope
}

func newAuthenticator(tokens []Token) *authenticator {
	a := &authenticator{}
	for _, t := range tokens {
		a.digests = append(a.digests, sha256.Sum256([]byte(t.Secret)))
		a.scopes = append(a.scopes, t.Scope)
	}
	return a
}

// scopeOf returns the scope of the request's token. It compares the digest
// of the presented token with every configured one in constant time, and
// does not stop at the first match, so timing says nothing about secrets.
func (a *authenticator) scopeOf(r *http.Request) (Scope, error) {
	if len(a.digests) == 0 {
		return ScopeAdmin, nil
	}
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return 0, eventstore.Errorf(eventstore.EUNAUTHORIZED, "this server needs a bearer token: Authorization: Bearer <token>")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return 0, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
	}
	digest := sha256.Sum256([]byte(token))
	var found Scope
	for i, d := range a.digests {
		if subtle.ConstantTimeCompare(digest[:], d[:]) == 1 {
			found = a.scopes[i]
		}
	}
	if found == 0 {
		return 0, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the bearer token is not valid")
	}
	return found, nil
}

// require lets a request through only with a token of at least scope.
func (s *server) require(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			have, err := s.auth.scopeOf(r)
			if err == nil && have < scope {
				err = eventstore.Errorf(eventstore.EFORBIDDEN, "this call needs a token with the %s scope; yours has %s", scope, have)
			}
			if err != nil {
				s.errs.Fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
