package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/httperr"
)

// createContextRequest is the body of POST /api/v1/contexts/{ct}/{cid}.
type createContextRequest struct {
	T string         `json:"t"` // defaults to ct
	O jsontext.Value `json:"o"`
}

func handleCreateContext(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ct, cid := chi.URLParam(r, "ct"), chi.URLParam(r, "cid")
		var req createContextRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		e, err := st.CreateContext(r.Context(), ct, cid, req.T, dataOf(req.O))
		if err != nil {
			return err
		}
		w.Header().Set("Location", eventPath(e))
		return encode(w, http.StatusCreated, e)
	}
}

// summaryResponse describes a context.
type summaryResponse struct {
	Ct      string   `json:"ct"`
	Cid     string   `json:"cid"`
	Genesis string   `json:"genesis"`
	Leaves  []string `json:"leaves"`
	Count   int64    `json:"count"`
	Updated int64    `json:"updated"` // ts of the newest leaf
	Servers []string `json:"servers"` // servers the context is shared with
	Version int64    `json:"version"` // head version: grows with every change of the leaves
}

func handleSummary(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sum, err := st.Summary(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"))
		if err != nil {
			return err
		}
		servers := sum.Servers
		if servers == nil {
			servers = []string{}
		}
		return encode(w, http.StatusOK, summaryResponse{Ct: sum.Ct, Cid: sum.Cid, Genesis: sum.Genesis,
			Leaves: sum.Leaves, Count: sum.Count, Updated: sum.Updated, Servers: servers, Version: sum.Version})
	}
}

func handleLeaves(st Store) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sum, err := st.Summary(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"))
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, map[string][]string{"leaves": sum.Leaves})
	}
}

func handleVerify(verify func(ctx context.Context, ct, cid string) (any, error)) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if verify == nil {
			return eventstore.Errorf(eventstore.EUNAVAILABLE, "verification is not configured on this server")
		}
		report, err := verify(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"))
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, report)
	}
}

// eventPath is where an event can be read.
func eventPath(e *eventstore.Event) string {
	return "/api/v1/contexts/" + e.Ct + "/" + e.Cid + "/events/" + e.ID
}

// shareRequest is the body of POST …/servers.
type shareRequest struct {
	Server string `json:"server"`
}

func handleShare(share func(ctx context.Context, ct, cid, server string) (*eventstore.Event, bool, error)) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if share == nil {
			return eventstore.Errorf(eventstore.EUNAVAILABLE, "federation is not configured on this server")
		}
		var req shareRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		if req.Server == "" {
			return eventstore.Errorf(eventstore.EINVALID, "server is required")
		}
		e, existed, err := share(r.Context(), chi.URLParam(r, "ct"), chi.URLParam(r, "cid"), req.Server)
		if err != nil {
			return err
		}
		if existed {
			return encode(w, http.StatusOK, map[string]string{"server": req.Server, "status": "already takes part"})
		}
		return encode(w, http.StatusCreated, e)
	}
}

func handleFederationStatus(status func() any) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if status == nil {
			return eventstore.Errorf(eventstore.EUNAVAILABLE, "federation is not configured on this server")
		}
		return encode(w, http.StatusOK, map[string]any{"peers": status()})
	}
}
