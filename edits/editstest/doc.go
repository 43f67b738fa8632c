// Package editstest holds what the tests of edits and of the store share
// to show that the fold converges: six concurrent updates of one target and
// every order they may arrive in.
package editstest
