// Package httperr is the one error path of the event store's two HTTP
// faces, the client API (package api) and the federation API (package
// federation): the map from error code to HTTP status, the problem+json
// writer (RFC 9457), and the adapter that lets a handler return an error,
// answers it, logs it and counts it (in the style of Tailscale's tsweb).
//
// Neither face imports the other; both import this package.
package httperr
