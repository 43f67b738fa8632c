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
//
// The files follow the phases of federation:
//
//   - federation.go: Config, New, Start and Close, sharing, maintenance;
//   - store.go: Store, the ten store methods the federation calls (a
//     *store.Store is one, as cmd/eventstore passes);
//   - keys.go, sign.go, peers.go: this server's keys, signatures, the
//     peers' keys; keyhistory.go: every key ever known of every server,
//     recorded as fetched, which verifies stored events after rotations
//     (the audit); notekeys.go: the same keys for signed notes;
//   - server.go: the HTTP endpoints and the checks of signed requests
//     (errors are answered, logged and counted by internal/httperr);
//     limits.go: the per-peer rate limit;
//   - cursors.go: per peer and context, what was delivered (the outbox);
//     sender.go: one sender per peer pushing new events, anti-entropy;
//     lease.go: which process sends to a peer; client.go: outbound calls;
//   - receive.go: receiving pushed events, fetching missing parents;
//     pending.go: events waiting for their parents;
//     transactions.go: answers to transactions already received;
//   - join.go: an invitation, and fetching the history of a shared
//     context (bound to the context given to Start);
//   - status.go, metrics.go: what operators see.
package federation
