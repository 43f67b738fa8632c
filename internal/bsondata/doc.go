// Package bsondata converts event data between the values of package
// hashing (canonical JSON; Object, []any and scalars), which the root
// Event, the API and the clients deal in, and BSON documents, the form the
// store keeps data in. It is apart from hashing so that hashing, and with
// it the root package and the HTTP client, do not import the MongoDB driver.
package bsondata
