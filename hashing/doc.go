// Package hashing implements the event hashing contract, schema version 2
// (docs/hashing.md, with its vectors in testdata/vectors.json): canonical
// JSON (RFC 8785, JCS) of event data, the rules data and hashed fields must
// satisfy, and the dHash and _id computations.
//
// It is pure: no I/O, no clocks, no global state, and no database driver
// (the root package and the HTTP client import it). Data reaches it either
// as raw JSON bytes (a client's request, parsed into Object, []any and
// scalars) or as a BSON document's bytes (an event read back from the
// database, walked by CanonicalBSON without the driver); both give the
// same canonical bytes for the same data, which is what lets every server
// and the audit recompute an id. Package internal/bsondata converts
// between these values and the driver's.
//
// The canonical encoder and the JSON parser are written here rather than
// taken from a JCS library: no library validates all of the spec's rules
// (duplicate members, lone surrogates, integer range, member names, depth)
// with a distinct error for each, and none canonicalizes BSON. The tests
// use github.com/gowebpki/jcs as an independent oracle.
package hashing
