// Command eventstore is the one binary of the event store: it serves the
// HTTP API, runs migrations and the integrity audit, and helps operators
// check event ids by hand. All wiring and configuration (flags, with
// EVENTSTORE_* environment variables as fallbacks) lives here.
//
//	eventstore serve      start the server (embedded store by default)
//	eventstore migrate    apply or list schema migrations
//	eventstore hash       compute dHash and _id of an event read on stdin
//	eventstore version    print the version
package main
