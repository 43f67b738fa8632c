package client

import (
	"encoding/json"

	"github.com/eventstore-go/eventstore"
)

// DecodeData decodes event data, an event's O or D (JSON), into v as
// encoding/json does (numbers in an any become float64). Nil data, as of
// a deleted event, leaves v as it is.
func DecodeData(data json.RawMessage, v any) error {
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return eventstore.WrapError(eventstore.EINVALIDDATA, err)
	}
	return nil
}
