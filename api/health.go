package api

import (
	"context"
	_ "embed"
	"net/http"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/internal/httperr"
)

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI is the OpenAPI 3 description of this API.
func OpenAPI() []byte { return openAPI }

func handleOpenAPI() httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, err := w.Write(openAPI)
		return err
	}
}

// handleHealthz says the process is alive.
func handleHealthz() httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return encode(w, http.StatusOK, map[string]string{"status": "alive"})
	}
}

// handleReadyz says whether the database answers and is migrated.
func handleReadyz(ready func(ctx context.Context) error) httperr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				if eventstore.ErrorCode(err) == eventstore.EOUTOFSPACE { // the cause, for the operator
					return &eventstore.Error{Code: eventstore.EOUTOFSPACE, Message: "not ready: " + eventstore.ErrorMessage(err), Err: err}
				}
				return &eventstore.Error{Code: eventstore.EUNAVAILABLE, Message: "not ready: " + err.Error(), Err: err}
			}
		}
		return encode(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
