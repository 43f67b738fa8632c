// Package federation lets servers share contexts: server identity
// (Ed25519 keys), signed events and signed requests, pushing new events to
// every participant, receiving them (fetching missing parents from the
// sender), and the history a new participant pulls when a context is
// shared with it. The protocol is written up in docs/federation.md.
//
// Participants are part of the context itself: the server that created it,
// and every server named by a server.join event in it. Every server
// computes the same set from the same events, and only participants may
// read a context or push events into it.
package federation
