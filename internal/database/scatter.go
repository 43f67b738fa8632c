package database

import "context"

// A scatter operation reads or writes a collection meant to be sharded
// without its shard key, so a sharded cluster sends it to every shard. The
// few that must (docs/scaling.md) say so on their context, and the tests'
// command check (storetest) lets through only those it names.
const (
	ScatterFullAudit    = "full audit"      // every context of a type, scanned
	ScatterMigrations   = "migrations"      // schema steps, once per upgrade
	ScatterContextTypes = "context types"   // the types present, from the registry: at start, and by a full audit
	ScatterCount        = "estimated count" // each shard's metadata, for a full audit's progress
	ScatterContexts     = "context list"    // a type's contexts, from the registry: an audit of every context
)

// scatterEmulation: the reads of anyStored, which run on FerretDB only.
const scatterEmulation = "transaction emulation"

type scatterKey struct{}

// Scatter marks ctx as the context of scatter operation name.
func Scatter(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, scatterKey{}, name)
}

// ScatterOf is the scatter operation ctx was marked with, or "".
func ScatterOf(ctx context.Context) string {
	name, _ := ctx.Value(scatterKey{}).(string)
	return name
}
