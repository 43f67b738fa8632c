// Package client is a Go client for the client HTTP API of an eventstore
// server (docs/api.md, api/openapi.yaml): create contexts, append,
// read, list and scroll, update, delete, read leaves, summaries and
// integrity reports, and follow a context or the whole server live over
// Server-Sent Events.
//
// It touches nothing but HTTP to one eventstore server: no database, no
// files, no global state. A Client is safe for concurrent use.
//
// Errors travel the wire unchanged: a problem+json answer becomes an
// *eventstore.Error with the problem's code and detail, so
// errors.Is(err, eventstore.ENOTFOUND), eventstore.ErrorCode(err) or
// errors.As say what went wrong exactly as they would inside the server; an answer without a problem body gets the
// code of its HTTP status, and a server that cannot be reached gives
// eventstore.EUNAVAILABLE.
//
// Retries are only made where they cannot change what is stored: reads
// (GET), and appends that carry a client id (clid), which the server
// answers with the first event stored under it. See WithRetry.
//
// WithVerify recomputes the _id and dHash of every event received, so that
// an event altered on its way (by a proxy, a cache, a broken server) is an
// *IntegrityError rather than data.
package client
