// Package migrations keeps the database schema in step with the code:
// ordered, versioned steps (collections, indexes, document upgrades), each
// recorded in the schema_migrations collection once applied. Every step is
// idempotent, so two processes that start at once may both run a step and
// the second record insert is simply refused as a duplicate; nothing is
// applied twice in a way that matters.
//
// It also names every collection, in collections.go: the shared ones, the
// federation's (which the federation package opens by these names), and
// those of a context type, which it prepares (the store calls
// PrepareContextType the first time it meets a new type).
package migrations
