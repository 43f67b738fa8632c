package eventstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/eventstore-go/eventstore"
)

// TestErrorIsCode: errors.Is matches an *Error, however deeply wrapped, by
// its code, and by no other.
func TestErrorIsCode(t *testing.T) {
	err := fmt.Errorf("appending: %w", eventstore.Errorf(eventstore.ENOTFOUND, "no context room/x"))
	if !errors.Is(err, eventstore.ENOTFOUND) {
		t.Errorf("errors.Is(%v, ENOTFOUND) = false", err)
	}
	if errors.Is(err, eventstore.ECONFLICT) {
		t.Errorf("errors.Is(%v, ECONFLICT) = true", err)
	}
	if errors.Is(errors.New("not_found"), eventstore.ENOTFOUND) {
		t.Error("a plain error matched a code")
	}
	if got := fmt.Sprint(eventstore.EGONE); got != "gone" {
		t.Errorf("a code prints as %q", got)
	}
}
