package federation

import (
	"encoding/json"
)

// Wire types of the federation API (docs/federation.md).

// Prefix of every federation path.
const Prefix = "/_federation/v1"

// Limits that protect a server.
const (
	MaxTransactionEvents = 100      // events in one pushed transaction
	MaxRequestBytes      = 16 << 20 // a federation request body
	MaxMissing           = 100      // events one missing-events answer holds
	MaxWanted            = 1000     // ids a missing-events request may name in want, and in have
	requestWindow        = 30_000   // milliseconds a signed request stays valid either side of now
)

// keysResponse is a server's published keys.
type keysResponse struct {
	Server     string         `json:"server"`
	Keys       []publishedKey `json:"keys"`
	ValidUntil int64          `json:"validUntil"` // ms: peers may cache the answer until then
}

type publishedKey struct {
	ID        string `json:"id"`
	PublicKey string `json:"publicKey"`         // base64url
	Expired   int64  `json:"expired,omitempty"` // ms: no longer signs new events, still verifies old ones
}

// transaction is what PUT /send/{txn} carries: events of one origin, each
// signed by its own origin (src), at most MaxTransactionEvents.
type transaction struct {
	Origin string            `json:"origin"`
	Events []json.RawMessage `json:"events"`
}

// Status of one event of a transaction.
const (
	StatusStored    = "stored"
	StatusDuplicate = "duplicate"
	StatusPending   = "pending"   // kept until its parents arrive; never a leaf, never listed
	StatusRefused   = "refused"   // invalid: bad signature, hash, data … (Error says why)
	StatusForbidden = "forbidden" // the sender does not take part in the event's context
	StatusRetry     = "retry"     // not now (for example while the context is still being fetched)
)

// eventResult is the outcome for one event of a transaction.
type eventResult struct {
	ID      string   `json:"id"`
	Status  string   `json:"status"`
	Error   string   `json:"error,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

type transactionResult struct {
	Results []eventResult `json:"results"`
}

// missingRequest asks for the ancestors of want that the asker lacks; the
// walk stops at have (the asker's leaves).
type missingRequest struct {
	Want  []string `json:"want"`
	Have  []string `json:"have"`
	Limit int      `json:"limit"`
}

// eventsResponse carries events, parents first.
type eventsResponse struct {
	Events []json.RawMessage `json:"events"`
}

// inviteRequest tells a server that a context was shared with it: the
// server.join event naming it, signed by the inviting participant.
type inviteRequest struct {
	Event json.RawMessage `json:"event"`
}

// leavesResponse is a context's leaves as one participant has them.
type leavesResponse struct {
	Leaves  []string `json:"leaves"`
	Version int64    `json:"version"`
}
