// Package api is the client HTTP API of the event store (docs/api.md,
// openapi.yaml): JSON in and out on github.com/go-chi/chi/v5, errors as
// application/problem+json with a stable code, bearer tokens with scopes,
// and Prometheus metrics on an injected registry.
//
// routes.go shows the whole API. Handlers are built by functions that take
// their dependencies and return an error; one adapter (internal/httperr,
// shared with the federation API) turns errors into problem answers, logs
// them and counts them (eventstore_http_errors_total). encode.go holds the
// one decode/encode pair. The handlers reach the database only through
// Store (store.go), the methods of *store.Store they call, so a test can
// run them against a fake (fakestore_test.go).
package api
