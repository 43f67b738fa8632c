package api

import "github.com/go-chi/chi/v5"

// addRoutes is the whole API. Paths and codes are the contract of
// shared/spec/api.md; openapi.yaml describes them and a test keeps the two
// in step.
func addRoutes(r chi.Router, s *server) {
	read, write, admin := r.With(s.require(ScopeRead)), r.With(s.require(ScopeWrite)), r.With(s.require(ScopeAdmin))

	r.Get("/healthz", s.handle(handleHealthz()))
	r.Get("/readyz", s.handle(handleReadyz(s.ready)))
	r.Get("/openapi.yaml", s.handle(handleOpenAPI()))
	read.Handle("/metrics", s.metricsHandler())

	const context = "/api/v1/contexts/{ct}/{cid}"
	write.Post(context, s.handle(handleCreateContext(s.store)))
	read.Get(context, s.handle(handleSummary(s.store)))
	write.Post(context+"/events", s.handle(handleAppend(s.store)))
	read.Get(context+"/events", s.handle(handleList(s.store)))
	read.Get(context+"/events/{id}", s.handle(handleGet(s.store)))
	write.Patch(context+"/events/{id}", s.handle(handleUpdate(s.store)))
	write.Delete(context+"/events/{id}", s.handle(handleDelete(s.store)))
	read.Get(context+"/leaves", s.handle(handleLeaves(s.store)))
	read.Get(context+"/verify", s.handle(handleVerify(s.verify)))
	admin.Post(context+"/servers", s.handle(handleShare(s.share)))
	admin.Get("/api/v1/federation/status", s.handle(handleFederationStatus(s.fedStat)))

	// Server to server: signed requests, not bearer tokens (docs/federation.md).
	if s.fed != nil {
		r.Handle("/_federation/*", s.fed)
	}
}
