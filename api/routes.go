package api

import "github.com/go-chi/chi/v5"

// addRoutes is the whole API. Paths and codes are the contract of
// docs/api.md; openapi.yaml describes them and a test keeps the two
// in step.
func addRoutes(r chi.Router, s *server) {
	read, write, admin := r.With(s.require(ScopeRead)), r.With(s.require(ScopeWrite)), r.With(s.require(ScopeAdmin))

	r.Get("/healthz", s.errs.Handle(handleHealthz()))
	r.Get("/readyz", s.errs.Handle(handleReadyz(s.ready)))
	r.Get("/openapi.yaml", s.errs.Handle(handleOpenAPI()))
	read.Handle("/metrics", s.metricsHandler())

	const context = "/api/v1/contexts/{ct}/{cid}"
	write.Post(context, s.errs.Handle(handleCreateContext(s.store)))
	read.Get(context, s.errs.Handle(handleSummary(s.store)))
	write.Post(context+"/events", s.errs.Handle(handleAppend(s.store)))
	read.Get(context+"/events", s.errs.Handle(handleList(s.store, s.cursors)))
	read.Get(context+"/events/{id}", s.errs.Handle(handleGet(s.store)))
	write.Patch(context+"/events/{id}", s.errs.Handle(handleUpdate(s.store)))
	write.Delete(context+"/events/{id}", s.errs.Handle(handleDelete(s.store)))
	read.Get(context+"/leaves", s.errs.Handle(handleLeaves(s.store)))
	read.Get(context+"/verify", s.errs.Handle(handleVerify(s.verify)))
	streams := r.With(tokenFromQuery, s.require(ScopeRead))
	streams.Get(context+"/stream", s.errs.Handle(handleContextStream(s.hub)))
	streams.Get("/api/v1/stream", s.errs.Handle(handleServerStream(s.hub)))
	r.Get("/api/v1/gateway", s.handleGateway) // authenticated by its identify packet
	admin.Post(context+"/servers", s.errs.Handle(handleShare(s.share)))
	admin.Get("/api/v1/federation/status", s.errs.Handle(handleFederationStatus(s.fedStat)))

	// Server to server: signed requests, not bearer tokens (docs/federation.md).
	if s.fed != nil {
		r.Handle("/_federation/*", s.fed)
	}
}
