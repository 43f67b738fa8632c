package client

import (
	"errors"
	"fmt"

	"github.com/eventstore-go/eventstore"
)

// ErrIntegrity is matched by every *IntegrityError:
// errors.Is(err, client.ErrIntegrity).
var ErrIntegrity = errors.New("an event received does not verify")

// IntegrityError is an event received that does not verify (WithVerify):
// its _id or dHash does not recompute, or it is not of the context (or
// not the event) asked for. Err is an *eventstore.Error with code
// eventstore.EINVALIDDATA saying what is wrong, so eventstore.ErrorCode
// gives that code; the root package has no code of its own for an
// altered event, and this type tells it from a refusal by the server.
type IntegrityError struct {
	Event *eventstore.Event // as received
	Err   error
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("event %s does not verify: %s", e.Event.ID, eventstore.ErrorMessage(e.Err))
}

func (e *IntegrityError) Unwrap() error { return e.Err }

// Is reports whether target is ErrIntegrity.
func (e *IntegrityError) Is(target error) bool { return target == ErrIntegrity }

// expect is what an event received should be, "" where anything goes.
type expect struct {
	ct, cid string
	id      string // Get
	t       string // Append, Update, Delete
	clid    string // Append
}

// check verifies e when WithVerify is on.
func (c *Client) check(e *eventstore.Event, want expect) error {
	if !c.opts.verify {
		return nil
	}
	err := e.Verify()
	switch {
	case err != nil:
	case want.ct != "" && e.Ct != want.ct, want.cid != "" && e.Cid != want.cid:
		err = eventstore.Errorf(eventstore.EINVALIDDATA, "it is of context %s/%s, not of %s/%s", e.Ct, e.Cid, want.ct, want.cid)
	case want.id != "" && e.ID != want.id:
		err = eventstore.Errorf(eventstore.EINVALIDDATA, "it is not event %s, which was asked for", want.id)
	case want.t != "" && e.T != want.t:
		err = eventstore.Errorf(eventstore.EINVALIDDATA, "its type is %q, not %q", e.T, want.t)
	case want.clid != "" && e.Clid != want.clid:
		err = eventstore.Errorf(eventstore.EINVALIDDATA, "its clid is %q, not %q", e.Clid, want.clid)
	}
	if err != nil {
		return &IntegrityError{Event: e, Err: err}
	}
	return nil
}
