package federation

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eventstore-go/eventstore/hashing"
	"github.com/eventstore-go/eventstore/internal/database"
)

// Peer is a server this one knows: its name (the src of its events), its
// base URL, and optionally keys pinned by the operator (then the only ones
// trusted, and never fetched).
type Peer struct {
	Name   string
	URL    string
	Pinned []*Key
}

// ParsePeer reads "name=url" with optional ";key=<key id>:<base64url public key>"
// parts, e.g. "b.example=https://b.example:8443;key=ed25519:AbCd…:MCow…".
func ParsePeer(s string) (Peer, error) {
	parts := strings.Split(s, ";")
	name, base, ok := strings.Cut(parts[0], "=")
	if !ok {
		return Peer{}, fmt.Errorf("peer %q: want name=url", s)
	}
	if err := hashing.ValidateSrc(name); err != nil {
		return Peer{}, fmt.Errorf("peer %q: %w", s, err)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Peer{}, fmt.Errorf("peer %q: the URL must be http(s)://host[:port]", s)
	}
	p := Peer{Name: name, URL: strings.TrimRight(base, "/")}
	for _, part := range parts[1:] {
		v, ok := strings.CutPrefix(part, "key=")
		i := strings.LastIndex(v, ":")
		if !ok || i < 0 {
			return Peer{}, fmt.Errorf("peer %q: a pinned key is key=<id>:<base64url public key>", s)
		}
		pub, err := base64.RawURLEncoding.DecodeString(v[i+1:])
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return Peer{}, fmt.Errorf("peer %q: the pinned key is not a base64url Ed25519 public key", s)
		}
		k := &Key{ID: v[:i], Public: pub}
		if keyID(pub) != k.ID {
			return Peer{}, fmt.Errorf("peer %q: key id %s does not match the key (%s)", s, k.ID, keyID(pub))
		}
		p.Pinned = append(p.Pinned, k)
	}
	return p, nil
}

// PinString is how a key is pinned in a --peer value.
func PinString(k *Key) string {
	return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Public)
}

// directory knows the peers and their keys, fetching and caching them.
type directory struct {
	self     string
	ring     *Keyring
	peers    map[string]Peer
	client   *http.Client
	now      func() time.Time
	peerKeys *database.Collection // where every fetched key is recorded (see KeyHistory); none when nil
	log      *slog.Logger

	mu    sync.Mutex
	cache map[string]*cachedKeys
}

type cachedKeys struct {
	keys    []*Key
	until   time.Time
	fetched time.Time
}

// refetchEvery bounds how often an unknown key id makes the directory ask
// a peer for its keys again (after a rotation, say).
const refetchEvery = 10 * time.Second

func (d *directory) peer(name string) (Peer, bool) {
	p, ok := d.peers[name]
	return p, ok
}

// keys returns the keys of a server that may verify its signatures. With
// keyID given and not among the cached keys, it asks the server again
// (at most every refetchEvery).
func (d *directory) keys(ctx context.Context, server, keyID string) ([]*Key, error) {
	if server == d.self {
		return append([]*Key{d.ring.Current}, d.ring.Old...), nil
	}
	p, ok := d.peers[server]
	if !ok {
		return nil, fmt.Errorf("unknown server %s", server)
	}
	if len(p.Pinned) > 0 {
		return p.Pinned, nil
	}
	d.mu.Lock()
	c := d.cache[server]
	d.mu.Unlock()
	now := d.now()
	fresh := c != nil && now.Before(c.until)
	if fresh && (keyID == "" || hasKey(c.keys, keyID) || now.Sub(c.fetched) < refetchEvery) {
		return c.keys, nil
	}
	keys, until, err := d.fetchKeys(ctx, p)
	if err != nil {
		if c != nil { // keep using what we had
			return c.keys, nil
		}
		return nil, err
	}
	d.record(ctx, server, keys, now)
	d.mu.Lock()
	d.cache[server] = &cachedKeys{keys: keys, until: until, fetched: now}
	d.mu.Unlock()
	return keys, nil
}

func hasKey(keys []*Key, id string) bool {
	for _, k := range keys {
		if k.ID == id {
			return true
		}
	}
	return false
}

func (d *directory) fetchKeys(ctx context.Context, p Peer) ([]*Key, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+Prefix+"/keys", nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	res, err := d.client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("fetching the keys of %s: %w", p.Name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("fetching the keys of %s: status %d", p.Name, res.StatusCode)
	}
	var kr keysResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&kr); err != nil {
		return nil, time.Time{}, fmt.Errorf("the keys of %s: %w", p.Name, err)
	}
	if kr.Server != p.Name {
		return nil, time.Time{}, fmt.Errorf("%s answered for %q", p.Name, kr.Server)
	}
	var keys []*Key
	for _, pk := range kr.Keys {
		pub, err := base64.RawURLEncoding.DecodeString(pk.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize || keyID(pub) != pk.ID {
			continue // a malformed key verifies nothing
		}
		k := &Key{ID: pk.ID, Public: pub}
		if pk.Expired != 0 {
			k.Expired = time.UnixMilli(pk.Expired)
		}
		keys = append(keys, k)
	}
	until := time.UnixMilli(kr.ValidUntil)
	if max := d.now().Add(24 * time.Hour); until.After(max) {
		until = max
	}
	return keys, until, nil
}
