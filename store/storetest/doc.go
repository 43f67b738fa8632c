// Package storetest runs tests against every database backend: the
// embedded FerretDB (one per test binary, a fresh database per test) and,
// when EVENTSTORE_TEST_MONGODB_URI is set, that MongoDB as well. It also
// holds what the tests of several packages share: a room with edits
// (room.go), stores filled fast (populate.go), counters of the commands a
// connection sends and of fsyncs (fsyncs.go), benchmarks' comparison with
// their limits in one run (compare.go), and the check that MongoDB's read
// paths carry the shard key (shapes.go).
package storetest
