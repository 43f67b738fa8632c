// Package database is the one place that knows the backend: a MongoDB
// (replica set or sharded cluster) or FerretDB v1 on SQLite, embedded in
// this process (embedded.go) or reached by URI.
//
// It connects (conn.go) and asks the server once what it is (backend.go);
// the driver's settings, the write gate (writegate.go), the escaping of
// nested arrays FerretDB needs (escape.go) and the read paths follow from
// that answer, whichever way the server was reached. It inserts documents
// all or nothing and says, the same on every backend, how far a failed
// insert got (insert.go), and maps the backend's errors to the answers the
// store gives (errors.go). It deletes many documents by _id in one
// transaction on the embedded store (deletes.go), and compacts the
// storage, giving back the space deleted documents leave inside pages
// (storage.go). Packages other than the store reach their own collections
// through Collection (collection.go, indexes.go), so every write of the
// process passes the write gate.
//
// Two paths run only on a MongoDB replica set or sharded cluster, and not
// in the tests here (no MongoDB server on these machines): starting a
// transaction (inTransaction) and the change stream (WatchInserts). Each
// is one small function written to the driver's documentation. Every
// other MongoDB path runs on FerretDB in the tests with Config.MongoDBReads,
// and MongoDB's compact command (compactCollections) runs on FerretDB,
// which takes it too.
package database
