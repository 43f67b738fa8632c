package clienttoken

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

// Claims are what a client token grants.
type Claims struct {
	Read  []string `json:"read,omitempty"`  // contexts it may read: "ct/cid" or "ct/*"
	Write []string `json:"write,omitempty"` // contexts it may write (and so read)
	jwt.RegisteredClaims
}

// MayRead reports whether the token lets its holder read context ct/cid.
func (c *Claims) MayRead(ct, cid string) bool {
	return matches(c.Read, ct, cid) || matches(c.Write, ct, cid)
}

// MayWrite reports whether the token lets its holder write to ct/cid.
func (c *Claims) MayWrite(ct, cid string) bool { return matches(c.Write, ct, cid) }

// MayReadType reports whether the token reads every context of type ct
// ("ct/*"), as a stream of the whole type needs.
func (c *Claims) MayReadType(ct string) bool {
	return slices.Contains(c.Read, ct+"/*") || slices.Contains(c.Write, ct+"/*")
}

func matches(patterns []string, ct, cid string) bool {
	return slices.Contains(patterns, ct+"/"+cid) || slices.Contains(patterns, ct+"/*")
}

// ValidatePattern checks a context pattern: "ct/cid" or "ct/*".
func ValidatePattern(p string) error {
	ct, cid, ok := strings.Cut(p, "/")
	if !ok {
		return fmt.Errorf("context %q: want ct/cid or ct/*", p)
	}
	if err := hashing.ValidateContextType(ct); err != nil {
		return fmt.Errorf("context %q: %w", p, err)
	}
	if cid != "*" {
		if err := hashing.ValidateContextID(cid); err != nil {
			return fmt.Errorf("context %q: %w", p, err)
		}
	}
	return nil
}

// ErrExpired is wrapped by Verify's error for a token past its expiry.
var ErrExpired = errors.New("the client token has expired")

// MaxLifetime bounds how far ahead a client token's expiry may be: these
// tokens are meant to be short-lived, and there is no revocation list.
const MaxLifetime = 24 * time.Hour

// Keys verify client tokens, and mint them if they hold the secret or the
// private key.
type Keys struct {
	method jwt.SigningMethod
	verify any // []byte or ed25519.PublicKey
	sign   any // []byte or ed25519.PrivateKey; nil: verify only
}

// minSecret is the shortest HMAC secret accepted (256 bits).
const minSecret = 32

// NewHMAC is keys from a shared secret (HS256), which mint and verify.
func NewHMAC(secret []byte) (*Keys, error) {
	if len(secret) < minSecret {
		return nil, fmt.Errorf("a client token secret needs at least %d bytes", minSecret)
	}
	return &Keys{method: jwt.SigningMethodHS256, verify: secret, sign: secret}, nil
}

// NewEd25519 is keys from an Ed25519 key (EdDSA): priv mints (nil: the
// keys only verify, with pub).
func NewEd25519(pub ed25519.PublicKey, priv ed25519.PrivateKey) (*Keys, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("an Ed25519 public key has 32 bytes")
	}
	k := &Keys{method: jwt.SigningMethodEdDSA, verify: pub}
	if priv != nil {
		k.sign = priv
	}
	return k, nil
}

// ParseKey reads the server's setting: "hmac:<secret>" or
// "ed25519:<base64url public key>".
func ParseKey(s string) (*Keys, error) {
	kind, v, _ := strings.Cut(s, ":")
	switch kind {
	case "hmac":
		return NewHMAC([]byte(v))
	case "ed25519":
		pub, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("ed25519: the public key must be base64url: %w", err)
		}
		return NewEd25519(pub, nil)
	}
	return nil, errors.New(`a client token key is "hmac:<secret of 32+ bytes>" or "ed25519:<base64url public key>"`)
}

// Mint signs claims, which need a subject, an expiry at most MaxLifetime
// ahead of now, and valid context patterns.
func (k *Keys) Mint(c Claims, now time.Time) (string, error) {
	if k.sign == nil {
		return "", errors.New("these keys only verify client tokens")
	}
	if err := c.check(now); err != nil {
		return "", err
	}
	return jwt.NewWithClaims(k.method, c).SignedString(k.sign)
}

func (c *Claims) check(now time.Time) error {
	if c.Subject == "" {
		return errors.New("a client token needs a subject")
	}
	if c.ExpiresAt == nil {
		return errors.New("a client token needs an expiry")
	}
	if c.ExpiresAt.Time.After(now.Add(MaxLifetime)) {
		return fmt.Errorf("a client token lives at most %v", MaxLifetime)
	}
	for _, p := range slices.Concat(c.Read, c.Write) {
		if err := ValidatePattern(p); err != nil {
			return err
		}
	}
	return nil
}

// Verify checks a token's signature (by these keys' method only), expiry
// and claims as of now. Its errors are EUNAUTHORIZED; an expired token's
// wraps ErrExpired.
func (k *Keys) Verify(token string, now time.Time) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return k.verify, nil },
		jwt.WithValidMethods([]string{k.method.Alg()}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, eventstore.WrapError(eventstore.EUNAUTHORIZED, ErrExpired)
	case err != nil:
		return nil, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the client token is not valid: %v", err)
	}
	if err := c.check(now); err != nil {
		return nil, eventstore.Errorf(eventstore.EUNAUTHORIZED, "the client token is not valid: %v", err)
	}
	return &c, nil
}

// Looks reports whether a bearer token is shaped like a JWT (three
// dot-separated parts), as service tokens never are.
func Looks(token string) bool { return strings.Count(token, ".") == 2 }
