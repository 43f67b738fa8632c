package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
)

// Key is an Ed25519 signing key of a server. Private is nil for other
// servers' keys.
type Key struct {
	ID      string // "ed25519:" and 12 characters derived from the public key
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
	Expired time.Time // zero while the key is the server's current one
}

// keyID names a public key after its digest, so that ids never clash.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519:" + base64.RawURLEncoding.EncodeToString(sum[:9])
}

// GenerateKey makes a new signing key.
func GenerateKey() (*Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Key{ID: keyID(pub), Public: pub, Private: priv}, nil
}

// keyFile is a signing key on disk.
type keyFile struct {
	ID      string `json:"id"`
	Seed    string `json:"seed"` // base64url of the 32-byte Ed25519 seed
	Public  string `json:"publicKey"`
	Created string `json:"created"`
}

// MarshalKeyFile is the key as eventstore keygen writes it.
func MarshalKeyFile(k *Key, now time.Time) ([]byte, error) {
	if k.Private == nil {
		return nil, errors.New("no private key")
	}
	return json.MarshalIndent(keyFile{ID: k.ID, Seed: base64.RawURLEncoding.EncodeToString(k.Private.Seed()),
		Public: base64.RawURLEncoding.EncodeToString(k.Public), Created: now.UTC().Format(time.RFC3339)}, "", "  ")
}

// LoadKeyFile reads a key written by MarshalKeyFile.
func LoadKeyFile(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(f.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("key file %s: seed must be %d bytes of base64url", path, ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if f.ID != "" && f.ID != keyID(pub) {
		return nil, fmt.Errorf("key file %s: id %s does not match the key (%s)", path, f.ID, keyID(pub))
	}
	return &Key{ID: keyID(pub), Public: pub, Private: priv}, nil
}

// keyDoc is one of this server's keys, in migrations.ServerKeysCollection:
// the current one (with its private key, unless it comes from a key file)
// and the ones it had before, which stay published so that old events
// still verify.
type keyDoc struct {
	ID      string         `bson:"_id"` // "current" for the signing key, else the key id
	KeyID   string         `bson:"keyId"`
	Public  []byte         `bson:"public"`
	Seed    []byte         `bson:"seed,omitempty"` // only for the current key kept in the database
	Created bson.DateTime  `bson:"created"`
	Expired *bson.DateTime `bson:"expired,omitempty"`
}

// Keyring is this server's signing key and the keys it used before.
type Keyring struct {
	Current *Key
	Old     []*Key
}

// LoadKeyring finds this server's signing key: fromFile if given, else the
// one kept in the database, generated on first start. A key that was
// current before (another key file, or the database's) stays published as
// an old key.
func LoadKeyring(ctx context.Context, db *database.Conn, fromFile *Key, now time.Time) (*Keyring, error) {
	keys := db.Collection(migrations.ServerKeysCollection)
	var cur keyDoc
	found, err := keys.FindByID(ctx, "current", &cur)
	switch {
	case err != nil:
		return nil, err
	case !found:
		k := fromFile
		if k == nil {
			if k, err = GenerateKey(); err != nil {
				return nil, err
			}
		}
		doc := keyDoc{ID: "current", KeyID: k.ID, Public: k.Public, Created: bson.DateTime(now.UnixMilli())}
		if fromFile == nil {
			doc.Seed = k.Private.Seed()
		}
		if err := keys.InsertOne(ctx, doc); database.IsDuplicate(err) {
			return LoadKeyring(ctx, db, fromFile, now) // another process was first
		} else if err != nil {
			return nil, err
		}
		cur = doc
	}
	current, err := cur.key()
	if err != nil {
		return nil, err
	}
	if fromFile != nil && fromFile.ID != current.ID {
		// Rotation: the previous key stays published, expired now.
		at := bson.DateTime(now.UnixMilli())
		old := keyDoc{ID: current.ID, KeyID: current.ID, Public: current.Public, Created: cur.Created, Expired: &at}
		if err := keys.InsertOne(ctx, old); err != nil && !database.IsDuplicate(err) {
			return nil, err
		}
		next := keyDoc{ID: "current", KeyID: fromFile.ID, Public: fromFile.Public, Created: at}
		if err := keys.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "current"}}, next, false); err != nil {
			return nil, err
		}
		current = fromFile
	}
	if fromFile != nil {
		current = fromFile
	}
	return ringOf(ctx, keys, current)
}

// ReadKeyring is the keyring LoadKeyring would return, for commands that
// must not write: it never generates, inserts nor rotates. A fromFile
// other than the stored current key is current here, and the stored one
// old (in memory only).
func ReadKeyring(ctx context.Context, db *database.Conn, fromFile *Key) (*Keyring, error) {
	keys := db.Collection(migrations.ServerKeysCollection)
	var cur keyDoc
	found, err := keys.FindByID(ctx, "current", &cur)
	switch {
	case err != nil:
		return nil, err
	case !found && fromFile == nil:
		return nil, errors.New("this server has no signing key yet: start the server once, or pass --key-file")
	}
	current, previous := fromFile, (*Key)(nil)
	if found {
		stored, err := cur.key()
		if err != nil {
			return nil, err
		}
		if fromFile == nil {
			current = stored
		} else if stored.ID != fromFile.ID {
			stored.Expired = time.Now()
			previous = stored
		}
	}
	ring, err := ringOf(ctx, keys, current)
	if err != nil {
		return nil, err
	}
	if previous != nil && !hasKey(ring.Old, previous.ID) {
		ring.Old = append(ring.Old, previous)
	}
	return ring, nil
}

// ringOf is the keyring signing with current, whose old keys are those
// kept in keys. Its filter reads the whole collection on FerretDB: one
// document per key this server ever had, read at start.
func ringOf(ctx context.Context, keys *database.Collection, current *Key) (*Keyring, error) {
	if current.Private == nil {
		return nil, errors.New("this server's signing key came from a key file last time: give it again (--key-file)")
	}
	ring := &Keyring{Current: current}
	var olds []keyDoc
	if err := keys.FindAll(ctx, bson.D{{Key: "expired", Value: bson.D{{Key: "$exists", Value: true}}}}, nil, &olds); err != nil {
		return nil, err
	}
	for _, d := range olds {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		if k.ID != current.ID {
			ring.Old = append(ring.Old, k)
		}
	}
	return ring, nil
}

func (d keyDoc) key() (*Key, error) {
	if len(d.Public) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("stored key %s is malformed", d.KeyID)
	}
	k := &Key{ID: d.KeyID, Public: d.Public}
	if len(d.Seed) == ed25519.SeedSize {
		k.Private = ed25519.NewKeyFromSeed(d.Seed)
	}
	if d.Expired != nil {
		k.Expired = d.Expired.Time()
	}
	if keyID(k.Public) != k.ID {
		return nil, fmt.Errorf("stored key %s does not match its public key", d.KeyID)
	}
	return k, nil
}
