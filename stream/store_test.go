package stream_test

import (
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/stream"
)

// *store.Store is what a server hands a Hub.
var _ stream.Store = (*store.Store)(nil)
