// Package clienttoken reads and mints the short-lived tokens that chat
// clients hold: a JWT (github.com/golang-jwt/jwt/v5) signed by the chat
// service with a shared HMAC secret or an Ed25519 key, naming its subject,
// the contexts it may read and those it may write ("ct/cid", or "ct/*"
// for every context of a type), and its expiry. A service token (package
// api) reads and writes everything; a client token only what it names.
//
// It touches nothing but the token: no store, no HTTP.
package clienttoken
