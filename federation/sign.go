package federation

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signatures are Ed25519 over a domain-separated text, so that a signature
// made for one purpose can never pass for another.
const (
	eventDomain   = "eventstore-event-v1\n"
	requestDomain = "eventstore-request-v1\n"
	authScheme    = "EventStore-Ed25519"
)

// SignEvent is the origin's signature over an event id: the sigs field.
func SignEvent(k *Key, id string) map[string]string {
	sig := ed25519.Sign(k.Private, []byte(eventDomain+id))
	return map[string]string{k.ID: base64.RawURLEncoding.EncodeToString(sig)}
}

// verifyEvent checks that sigs holds a valid signature over id by one of
// keys.
func verifyEvent(keys []*Key, id string, sigs map[string]string) error {
	if len(sigs) == 0 {
		return errors.New("the event is not signed")
	}
	for _, k := range keys {
		s, ok := sigs[k.ID]
		if !ok {
			continue
		}
		if err := checkEventSig(k.Public, id, s); err != nil {
			return fmt.Errorf("the signature by key %s %v", k.ID, err)
		}
		return nil
	}
	return errors.New("no signature by a key of its origin")
}

// Why checkEventSig refuses a signature; each completes "the signature by
// key … ".
var (
	errSigEncoding = errors.New("is not a base64url Ed25519 signature")
	errSigInvalid  = errors.New("is not valid")
)

// checkEventSig checks that s (base64url) is pub's signature over event
// id. It works in buffers on the stack: the audit calls it for every event.
func checkEventSig(pub ed25519.PublicKey, id, s string) error {
	var sig [ed25519.SignatureSize]byte
	var src [128]byte
	if base64.RawURLEncoding.DecodedLen(len(s)) != len(sig) {
		return errSigEncoding
	}
	if _, err := base64.RawURLEncoding.Decode(sig[:], append(src[:0], s...)); err != nil {
		return errSigEncoding
	}
	var buf [256]byte
	if !ed25519.Verify(pub, append(append(buf[:0], eventDomain...), id...), sig[:]) {
		return errSigInvalid
	}
	return nil
}

// requestText is what a request signature covers: method, path and query,
// origin, destination, time and a digest of the body.
func requestText(method, pathQuery, origin, destination string, ts int64, body []byte) []byte {
	digest := sha256.Sum256(body)
	return []byte(requestDomain + method + "\n" + pathQuery + "\n" + origin + "\n" + destination + "\n" +
		strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(digest[:]))
}

// SignRequest sets the Authorization header of a federation request from
// origin to destination with body, as of now.
func SignRequest(req *http.Request, k *Key, origin, destination string, body []byte, now time.Time) {
	signRequest(req, k, origin, destination, body, now)
}

// signRequest sets the Authorization header of a federation request.
func signRequest(req *http.Request, k *Key, origin, destination string, body []byte, now time.Time) {
	ts := now.UnixMilli()
	sig := ed25519.Sign(k.Private, requestText(req.Method, req.URL.RequestURI(), origin, destination, ts, body))
	req.Header.Set("Authorization", fmt.Sprintf(`%s origin=%s,destination=%s,key=%s,ts=%d,sig=%s`,
		authScheme, origin, destination, k.ID, ts, base64.RawURLEncoding.EncodeToString(sig)))
}

// authorization is a parsed request signature.
type authorization struct {
	origin, destination, key string
	ts                       int64
	sig                      []byte
}

func parseAuthorization(h string) (*authorization, error) {
	scheme, params, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, errors.New("the request is not signed (no Authorization header)")
	}
	if !ok || scheme != authScheme {
		return nil, fmt.Errorf("the Authorization scheme must be %s", authScheme)
	}
	a := &authorization{}
	for _, kv := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "origin":
			a.origin = v
		case "destination":
			a.destination = v
		case "key":
			a.key = v
		case "ts":
			a.ts, _ = strconv.ParseInt(v, 10, 64)
		case "sig":
			a.sig, _ = base64.RawURLEncoding.DecodeString(v)
		}
	}
	if a.origin == "" || a.destination == "" || a.key == "" || a.ts == 0 || len(a.sig) != ed25519.SignatureSize {
		return nil, errors.New("the Authorization header needs origin, destination, key, ts and sig")
	}
	return a, nil
}
