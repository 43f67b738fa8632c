package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/clienttoken"
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

// authenticator checks bearer tokens: the service tokens configured, and
// client tokens signed with the client token key (package clienttoken).
// With neither it lets everything through (the server then only listens
// on loopback; see cmd/eventstore).
type authenticator struct {
	digests [][sha256.Size]byte
	scopes  []Scope
	clients *clienttoken.Keys // nil: no client tokens
	now     func() time.Time
}

func newAuthenticator(tokens []Token, clients *clienttoken.Keys) *authenticator {
	a := &authenticator{clients: clients, now: time.Now}
	for _, t := range tokens {
		a.digests = append(a.digests, sha256.Sum256([]byte(t.Secret)))
		a.scopes = append(a.scopes, t.Scope)
	}
	return a
}

// principal is who a request comes from: a service token's scope, or a
// client token's claims.
type principal struct {
	scope  Scope
	client *clienttoken.Claims // nil for a service token
}

// open reports whether the server has no tokens at all, and so lets every
// request through.
func (a *authenticator) open() bool { return len(a.digests) == 0 && a.clients == nil }

// principalOf reads the request's token. It compares the digest of the
// presented token with every configured service token in constant time,
// and does not stop at the first match, so timing says nothing about
// secrets; a token that matches none and looks like a JWT is checked as a
// client token.
func (a *authenticator) principalOf(r *http.Request) (principal, error) {
	return a.principalOfHeader(r.Header.Get("Authorization"))
}

// principalOfHeader is principalOf for an Authorization header's value.
func (a *authenticator) principalOfHeader(h string) (principal, error) {
	if a.open() {
		return principal{scope: ScopeAdmin}, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return principal{}, eventstore.Errorf(eventstore.EUNAUTHORIZED, "this server needs a bearer token: Authorization: Bearer <token>")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
	}
	digest := sha256.Sum256([]byte(token))
	var found Scope
	for i, d := range a.digests {
		if subtle.ConstantTimeCompare(digest[:], d[:]) == 1 {
			found = a.scopes[i]
		}
	}
	if found != 0 {
		return principal{scope: found}, nil
	}
	if a.clients != nil && clienttoken.Looks(token) {
		c, err := a.clients.Verify(token, a.now())
		if err != nil {
			return principal{}, err
		}
		return principal{client: c}, nil
	}
	return principal{}, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the bearer token is not valid")
}

// allows checks that p may make request r, which needs scope. A client
// token reads (or writes) only the contexts it names: the route's {ct} and
// {cid}, or, for the server-wide stream, every context of its ?ct type.
func (p principal) allows(r *http.Request, scope Scope) error {
	if p.client == nil {
		if p.scope < scope {
			return eventstore.Errorf(eventstore.EFORBIDDEN, "this call needs a token with the %s scope; yours has %s", scope, p.scope)
		}
		return nil
	}
	ct, cid := chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
	switch {
	case scope == ScopeAdmin:
	case ct != "" && cid != "" && scope == ScopeRead && p.client.MayRead(ct, cid):
		return nil
	case ct != "" && cid != "" && scope == ScopeWrite && p.client.MayWrite(ct, cid):
		return nil
	case ct == "" && scope == ScopeRead && r.URL.Query().Get("ct") != "" && p.client.MayReadType(r.URL.Query().Get("ct")):
		return nil
	}
	what := "this call"
	if ct != "" && cid != "" {
		what = ct + "/" + cid
	}
	return eventstore.Errorf(eventstore.EFORBIDDEN, "the client token of %s does not let it %s %s", p.client.Subject, scopeVerb(scope), what)
}

// mayRead and mayWrite say whether p may read or write context ct/cid.
func (p principal) mayRead(ct, cid string) bool {
	if p.client != nil {
		return p.client.MayRead(ct, cid)
	}
	return p.scope >= ScopeRead
}

func (p principal) mayWrite(ct, cid string) bool {
	if p.client != nil {
		return p.client.MayWrite(ct, cid)
	}
	return p.scope >= ScopeWrite
}

func scopeVerb(s Scope) string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeWrite:
		return "write to"
	}
	return "administer"
}

type principalKey struct{}

// principalFrom is the principal require let through, if any.
func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// require lets a request through only with a token that allows it.
func (s *server) require(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := s.auth.principalOf(r)
			if err == nil {
				err = p.allows(r, scope)
			}
			if err != nil {
				s.errs.Fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

// tokenFromQuery takes a bearer token from ?access_token= when the request
// has no Authorization header: a browser's EventSource cannot set headers.
// Only the streams take it (a token in a URL ends up in logs; use short-
// lived client tokens there).
func tokenFromQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if tok := q.Get("access_token"); tok != "" {
			if r.Header.Get("Authorization") == "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			q.Del("access_token")
			r.URL.RawQuery = q.Encode()
		}
		next.ServeHTTP(w, r)
	})
}
