// Package eventstore holds the domain types shared by every part of the
// event store: the event (schema version 2) and the error type with stable
// codes. The technology lives in subpackages: hashing (the hashing
// contract), store and migrations (MongoDB), api (the client HTTP API),
// federation (server to server), and cmd/eventstore wires them together.
package eventstore
