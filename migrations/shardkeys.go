package migrations

import "strings"

// ShardKey is the field collection name is sharded on in a sharded
// cluster, or "" for a collection that stays unsharded (small ones, on the
// primary shard). docs/scaling.md says why for each:
//
//   - <ct>_events on cid: a context's events, head versions and clid
//     records live together, so an append is a single-shard transaction
//     and everything claimed by a unique _id there (a version, a clid
//     record) is claimed within its context's shard. The commit log's
//     documents all have cid LogCid, so its numbers are claimed on one
//     shard too.
//   - <ct>_edits and contexts on _id: read and claimed by _id alone.
func ShardKey(name string) string {
	switch {
	case strings.HasSuffix(name, "_events"):
		return "cid"
	case strings.HasSuffix(name, "_edits"), name == ContextsCollection:
		return "_id"
	}
	return ""
}
