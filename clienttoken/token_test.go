package clienttoken_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/clienttoken"
)

func claims(now time.Time, ttl time.Duration) clienttoken.Claims {
	return clienttoken.Claims{Read: []string{"room/general", "dm/*"}, Write: []string{"room/general"},
		RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}}
}

func TestMintAndVerify(t *testing.T) {
	now := time.Now()
	hmacKeys, err := clienttoken.NewHMAC([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	edKeys, _ := clienttoken.NewEd25519(pub, priv)
	edVerify, _ := clienttoken.NewEd25519(pub, nil)
	for name, k := range map[string][2]*clienttoken.Keys{"hmac": {hmacKeys, hmacKeys}, "ed25519": {edKeys, edVerify}} {
		tok, err := k[0].Mint(claims(now, time.Hour), now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !clienttoken.Looks(tok) {
			t.Errorf("%s: %q does not look like a client token", name, tok)
		}
		c, err := k[1].Verify(tok, now)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Subject != "alice" || !c.MayRead("room", "general") || !c.MayRead("dm", "x") || c.MayRead("room", "other") ||
			!c.MayWrite("room", "general") || c.MayWrite("dm", "x") || !c.MayReadType("dm") || c.MayReadType("room") {
			t.Errorf("%s: claims %+v grant the wrong things", name, c)
		}
		// Expired, and tampered.
		if _, err := k[1].Verify(tok, now.Add(2*time.Hour)); !errors.Is(err, clienttoken.ErrExpired) || eventstore.ErrorCode(err) != eventstore.EUNAUTHORIZED {
			t.Errorf("%s: expired token: %v", name, err)
		}
		parts := strings.Split(tok, ".")
		forged := parts[0] + "." + strings.TrimRight(jwtSegment(`{"sub":"mallory","read":["room/*"],"exp":`+itoa(now.Add(time.Hour).Unix())+`}`), "=") + "." + parts[2]
		if _, err := k[1].Verify(forged, now); eventstore.ErrorCode(err) != eventstore.EUNAUTHORIZED {
			t.Errorf("%s: a token with changed claims verified: %v", name, err)
		}
	}
	// The other method's token is refused (no algorithm confusion), and so is alg none.
	tok, _ := hmacKeys.Mint(claims(now, time.Hour), now)
	if _, err := edVerify.Verify(tok, now); err == nil {
		t.Error("an HS256 token verified against an Ed25519 key")
	}
	none := jwtSegment(`{"alg":"none","typ":"JWT"}`) + "." + jwtSegment(`{"sub":"x","exp":`+itoa(now.Add(time.Hour).Unix())+`}`) + "."
	if _, err := hmacKeys.Verify(none, now); err == nil {
		t.Error("an unsigned token verified")
	}
}

func TestMintRefusesBadClaims(t *testing.T) {
	now := time.Now()
	k, _ := clienttoken.NewHMAC([]byte(strings.Repeat("s", 32)))
	for name, c := range map[string]clienttoken.Claims{
		"no subject":      {RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}},
		"no expiry":       {RegisteredClaims: jwt.RegisteredClaims{Subject: "a"}},
		"a week":          claims(now, 7*24*time.Hour),
		"bad pattern":     {Read: []string{"room"}, RegisteredClaims: jwt.RegisteredClaims{Subject: "a", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}},
		"bad cid pattern": {Write: []string{"room/-x"}, RegisteredClaims: jwt.RegisteredClaims{Subject: "a", ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}},
	} {
		if _, err := k.Mint(c, now); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	if _, err := clienttoken.NewHMAC([]byte("short")); err == nil {
		t.Error("a short secret was taken")
	}
	for _, s := range []string{"hmac:short", "ed25519:!!", "rsa:x", ""} {
		if _, err := clienttoken.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) took it", s)
		}
	}
}

func jwtSegment(s string) string { return strings.TrimRight(b64(s), "=") }
