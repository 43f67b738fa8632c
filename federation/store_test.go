package federation_test

import (
	"github.com/eventstore-go/eventstore/federation"
	"github.com/eventstore-go/eventstore/store"
)

// The store serve.go passes is a federation.Store.
var _ federation.Store = (*store.Store)(nil)
