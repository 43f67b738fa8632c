package client

import (
	"context"
	"net/http"
	"time"
)

// Summary describes a context, as GET /api/v1/contexts/{ct}/{cid}
// answers.
type Summary struct {
	Ct      string   `json:"ct"`
	Cid     string   `json:"cid"`
	Genesis string   `json:"genesis"` // the id of its genesis event
	Leaves  []string `json:"leaves"`
	Count   int64    `json:"count"`   // events stored
	Updated int64    `json:"updated"` // ts of the newest leaf, milliseconds since the epoch
	Servers []string `json:"servers"` // servers the context is shared with
	Version int64    `json:"version"` // head version: grows with every change of the leaves
}

// Context returns the summary of context ct/cid; eventstore.ENOTFOUND if
// it does not exist.
func (c *Client) Context(ctx context.Context, ct, cid string) (*Summary, error) {
	var s Summary
	if _, err := c.do(ctx, request{method: http.MethodGet, path: contextPath(ct, cid), retry: true}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Report is a server's integrity audit of a context, as GET …/verify
// answers (the server's audit.Report; docs/audit.md).
type Report struct {
	Clean          bool            `json:"clean"` // no problems found
	Started        time.Time       `json:"started"`
	TookSeconds    float64         `json:"tookSeconds"`
	Contexts       int             `json:"contexts"`
	Events         int64           `json:"events"`   // events verified
	Redacted       int64           `json:"redacted"` // deleted events: o is gone, the chain still verifies
	ProblemsByKind map[string]int  `json:"problemsByKind"`
	PerContext     []ContextReport `json:"perContext"`
	Problems       []AuditProblem  `json:"problems"`
	// CheckpointFile and CheckpointFileContexts are set when the audit
	// held history to a checkpoint file.
	CheckpointFile         string `json:"checkpointFile,omitempty"`
	CheckpointFileContexts int    `json:"checkpointFileContexts,omitempty"`
}

// ContextReport is the audit of one context.
type ContextReport struct {
	Ct       string `json:"ct"`
	Cid      string `json:"cid"`
	Events   int64  `json:"events"`
	Redacted int64  `json:"redacted"`
	Leaves   int    `json:"leaves"`
	Problems int    `json:"problems"`
	Checked  string `json:"checked"` // "full" or "incremental"
}

// AuditProblem is one thing an audit found wrong.
type AuditProblem struct {
	Kind   string `json:"kind"` // id_mismatch, dhash_mismatch, missing_parent, leaves_mismatch, … (docs/audit.md)
	Ct     string `json:"ct"`
	Cid    string `json:"cid"`
	Event  string `json:"event,omitempty"`
	Detail string `json:"detail"`
}

// Verify asks the server to audit context ct/cid: every id and dHash
// recomputed, the graph, the leaves and the flags checked.
// eventstore.ENOTFOUND if it does not exist; eventstore.EUNAVAILABLE if
// the server has no auditor configured.
func (c *Client) Verify(ctx context.Context, ct, cid string) (*Report, error) {
	var rep Report
	if _, err := c.do(ctx, request{method: http.MethodGet, path: contextPath(ct, cid) + "/verify", retry: true}, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
