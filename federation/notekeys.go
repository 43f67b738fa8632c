package federation

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/eventstore-go/eventstore/internal/database"
)

// A server's signing key also signs C2SP signed notes (checkpoints, say).
// No note can pass for an event or a request: a note's text ends in a
// newline, and what an event or request signature covers never does.

// noteSigner signs notes with an Ed25519 key.
type noteSigner struct {
	name string
	hash uint32
	priv ed25519.PrivateKey
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

// NoteSigner signs notes as server name with k, whose Private must be set.
// Its KeyHash is that of note.NewEd25519VerifierKey(name, k.Public).
func NoteSigner(name string, k *Key) (note.Signer, error) {
	if k.Private == nil {
		return nil, fmt.Errorf("key %s: no private key to sign notes with", k.ID)
	}
	if !k.Private.Public().(ed25519.PublicKey).Equal(k.Public) {
		return nil, fmt.Errorf("key %s: the private key is not the public key's", k.ID)
	}
	v, err := noteVerifier(name, k)
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: name, hash: v.KeyHash(), priv: k.Private}, nil
}

// NoteVerifiers verify notes signed as server name by any key of the
// keyring, current or old.
func (r *Keyring) NoteVerifiers(name string) (note.Verifiers, error) {
	if r.Current == nil {
		return nil, errors.New("the keyring has no current key")
	}
	list := make([]note.Verifier, 0, 1+len(r.Old))
	for _, k := range append([]*Key{r.Current}, r.Old...) {
		v, err := noteVerifier(name, k)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return note.VerifierList(list...), nil
}

// noteVerifier verifies notes signed as name by k.
func noteVerifier(name string, k *Key) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, k.Public)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.ID, err)
	}
	v, err := note.NewVerifier(vkey) // refuses a name notes cannot carry
	if err != nil {
		return nil, fmt.Errorf("note verifier of %s for key %s: %w", name, k.ID, err)
	}
	return v, nil
}

// AuditKeys are what an audit of server self needs from its keys: the key
// history that verifies every event's signature, and the signer and
// verifiers of its checkpoints (ring's current key, and all of them).
type AuditKeys struct {
	History   *KeyHistory
	Signer    note.Signer
	Verifiers note.Verifiers
}

// LoadAuditKeys reads the key history and makes the checkpoint keys.
func LoadAuditKeys(ctx context.Context, db *database.Conn, self string, ring *Keyring, peers []Peer) (*AuditKeys, error) {
	history, err := LoadKeyHistory(ctx, db, self, peers)
	if err != nil {
		return nil, fmt.Errorf("reading the key history: %w", err)
	}
	signer, err := NoteSigner(self, ring.Current)
	if err != nil {
		return nil, err
	}
	verifiers, err := ring.NoteVerifiers(self)
	if err != nil {
		return nil, err
	}
	return &AuditKeys{History: history, Signer: signer, Verifiers: verifiers}, nil
}
