package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/eventstore-go/eventstore"
)

// Origins are the web origins whose pages may call the client API and the
// streams, and open the gateway, from a browser (CORS). Each is an exact
// origin (https://chat.example.com, http://127.0.0.1:5173) or a pattern
// whose host starts with "*." (https://*.example.com: any subdomain, of
// any depth, with that scheme and no port). "*" allows every origin. The
// zero value allows none but the server's own.
type Origins struct {
	exact    map[string]bool
	suffixes []string // "https://" + ".example.com" for https://*.example.com
	any      bool
}

// ParseOrigins checks and parses a list of origins and patterns.
func ParseOrigins(list []string) (Origins, error) {
	o := Origins{exact: map[string]bool{}}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s == "*" {
			o.any = true
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return Origins{}, fmt.Errorf("origin %q: want scheme://host[:port], such as https://chat.example.com or https://*.example.com", s)
		}
		host := strings.ToLower(u.Host)
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			if rest == "" || strings.ContainsAny(rest, "*:") {
				return Origins{}, fmt.Errorf("origin pattern %q: only a leading *. is allowed, without a port", s)
			}
			o.suffixes = append(o.suffixes, u.Scheme+"://."+rest)
			continue
		}
		if strings.Contains(host, "*") {
			return Origins{}, fmt.Errorf("origin pattern %q: only a leading *. is allowed", s)
		}
		o.exact[u.Scheme+"://"+host] = true
	}
	return o, nil
}

// Allows reports whether a page of origin (an Origin header) may call.
func (o Origins) Allows(origin string) bool {
	if o.any {
		return true
	}
	origin = strings.ToLower(origin)
	if o.exact[origin] {
		return true
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || strings.Contains(host, ":") {
		return false
	}
	for _, sfx := range o.suffixes {
		sScheme, sHost, _ := strings.Cut(sfx, "://")
		if scheme == sScheme && strings.HasSuffix(host, sHost) && len(host) > len(sHost) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether origin names the host the request was sent
// to (a page of this server, or behind a proxy that keeps Host).
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// CORS headers: what a browser may send and read.
const (
	corsMethods = "GET, POST, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Last-Event-ID"
	corsExpose  = "Location, Retry-After, WWW-Authenticate"
	corsMaxAge  = 600 // seconds a browser keeps a preflight's answer
)

// cors answers preflights and marks the answers of the client API and the
// streams (paths under /api/v1/) for the allowed origins. A request from
// a page of another origin that is not allowed is refused (403), before
// anything is read or stored. Federation, /metrics and the rest are never
// cross-origin: their answers carry no CORS headers. The gateway checks
// origins at its upgrade (handleGateway).
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !strings.HasPrefix(r.URL.Path, "/api/v1/") || r.URL.Path == "/api/v1/gateway" {
			next.ServeHTTP(w, r)
			return
		}
		allowed := s.origins.Allows(origin)
		if !allowed && sameOrigin(r, origin) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				w.Header().Add("Vary", "Access-Control-Request-Method")
			}
			s.errs.Fail(w, r, eventstore.Errorf(eventstore.EFORBIDDEN,
				"pages of origin %s may not call this server; its operator allows origins with --cors-origins", origin))
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExpose)
		next.ServeHTTP(w, r)
	})
}
