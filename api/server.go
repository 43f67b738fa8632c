package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/clienttoken"
	"github.com/eventstore-go/eventstore/internal/httperr"
	"github.com/eventstore-go/eventstore/stream"
)

// Config is what the API needs.
type Config struct {
	Store Store // *store.Store, or a fake in tests
	// Cursors writes and reads the listings' cursors: the Hub's
	// (stream.NewCursors of the server's name); required with a Store.
	Cursors  *stream.Cursors
	Logger   *slog.Logger
	Metrics  *Metrics
	Gatherer prometheus.Gatherer // served at /metrics
	Tokens   []Token             // none (and no ClientTokens): every request is allowed (loopback only)
	// ClientTokens, when set, verifies the client tokens that chat clients
	// hold (package clienttoken): each reads and writes only what it names.
	ClientTokens *clienttoken.Keys
	// Gateway sets the WebSocket gateway's timing (zero: the defaults).
	Gateway GatewayConfig
	// Ready reports whether the database answers and is migrated (/readyz).
	Ready func(ctx context.Context) error
	// Verify checks one context's integrity (GET …/verify); its report is
	// returned as JSON.
	Verify func(ctx context.Context, ct, cid string) (any, error)
	// Share shares a context with another server (POST …/servers); existed
	// is true when it already took part. Nil: no federation.
	Share func(ctx context.Context, ct, cid, server string) (e *eventstore.Event, existed bool, err error)
	// Federation serves the federation API under /_federation/ (nil: none).
	Federation http.Handler
	// FederationStatus reports delivery to every peer (GET
	// /api/v1/federation/status).
	FederationStatus func() any
	// Hub serves the live streams (…/stream, /api/v1/stream); nil: they
	// answer 503.
	Hub *stream.Hub
	// Origins may call the client API and the streams, and open the
	// gateway, from browser pages of other origins (CORS; ParseOrigins).
	Origins Origins
}

// server holds the dependencies of the handlers.
type server struct {
	store   Store
	cursors *stream.Cursors
	log     *slog.Logger
	metrics *Metrics
	errs    httperr.Adapter // answers, logs and counts failed requests
	auth    *authenticator
	ready   func(ctx context.Context) error
	verify  func(ctx context.Context, ct, cid string) (any, error)
	share   func(ctx context.Context, ct, cid, server string) (*eventstore.Event, bool, error)
	fed     http.Handler
	fedStat func() any
	gather  prometheus.Gatherer
	hub     *stream.Hub
	gateway GatewayConfig
	clients *gatewayClients
	origins Origins
}

// New returns the API as an http.Handler.
func New(cfg Config) http.Handler {
	if cfg.Store != nil && cfg.Cursors == nil {
		panic("api: Config.Cursors is nil (stream.NewCursors of the server's name)")
	}
	s := &server{store: cfg.Store, cursors: cfg.Cursors, log: cfg.Logger, metrics: cfg.Metrics, auth: newAuthenticator(cfg.Tokens, cfg.ClientTokens),
		ready: cfg.Ready, verify: cfg.Verify, share: cfg.Share, fed: cfg.Federation, fedStat: cfg.FederationStatus, gather: cfg.Gatherer, hub: cfg.Hub,
		gateway: cfg.Gateway, clients: newGatewayClients(cfg.Gateway.Closing, cfg.Gateway.Closed), origins: cfg.Origins}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.errs = httperr.Adapter{Log: s.log}
	if s.metrics != nil {
		s.errs.Count = s.metrics.countError
	}
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, httperr.TrackBody)
	if s.metrics != nil {
		r.Use(s.metrics.instrument)
	}
	r.Use(s.cors)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.errs.Fail(w, r, eventstore.Errorf(eventstore.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.errs.Fail(w, r, eventstore.Errorf(httperr.EMETHODNOTALLOWED, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
	addRoutes(r, s)
	return r
}

func (s *server) metricsHandler() http.Handler {
	if s.gather == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}
