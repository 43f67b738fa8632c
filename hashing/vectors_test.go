package hashing_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eventstore-go/eventstore/internal/bsondata"
	"github.com/gowebpki/jcs"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/hashing"
)

// vectorsPath is the project's hashing vectors (docs/hashing.md, "Test
// vectors"). Each vector's name and event are written by hand; its
// canonicalO, dHash, canonicalHead and _id are computed by
//
//	go test ./hashing -run '^TestVectorsFile$' -update
//
// and every run checks that the file is exactly what that command writes.
var vectorsPath = filepath.Join("..", "testdata", "vectors.json")

// sharedVectorsPath is the vectors of the shared hashing spec, where it is
// checked out beside the project (as in CI). Only
// TestVectorsAgreeWithSharedSpec reads it, and skips when it is absent.
var sharedVectorsPath = filepath.Join("..", "..", "shared", "spec", "vectors.json")

var update = flag.Bool("update", false, "rewrite ../testdata/vectors.json, computing every vector's canonicalO, dHash, canonicalHead and _id from its event")

type vectorEvent struct {
	Src  string          `json:"src"`
	Ct   string          `json:"ct"`
	Cid  string          `json:"cid"`
	T    string          `json:"t"`
	TS   int64           `json:"ts"`
	Pids []string        `json:"pids"`
	O    json.RawMessage `json:"o"`
}

type vector struct {
	Name          string      `json:"name"`
	Event         vectorEvent `json:"event"`
	CanonicalO    string      `json:"canonicalO"`
	DHash         string      `json:"dHash"`
	CanonicalHead string      `json:"canonicalHead"`
	ID            string      `json:"_id"`
}

// vectorsFile is the layout of testdata/vectors.json: the vectors in the
// shared spec's format, with a comment that says how the file is made.
type vectorsFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

const vectorsComment = "The project's hashing vectors (docs/hashing.md, \"Test vectors\"). " +
	"Each vector's name and event are written by hand; canonicalO, dHash, canonicalHead and _id are computed by " +
	"`go test ./hashing -run '^TestVectorsFile$' -update`, and every test run checks that this file is exactly what that command writes. " +
	"The tests of packages hashing, store and cmd/eventstore reproduce every vector."

func readVectorsFile(t *testing.T) ([]byte, vectorsFile) {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorsFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s: no vectors", vectorsPath)
	}
	return raw, f
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	_, f := readVectorsFile(t)
	return f.Vectors
}

// computeVector fills in the computed fields of v from its event with this
// package.
func computeVector(v vector) (vector, error) {
	_, canonical, err := hashing.ParseObject(v.Event.O)
	if err != nil {
		return v, err
	}
	head := hashing.Head{Src: v.Event.Src, Ct: v.Event.Ct, Cid: v.Event.Cid, T: v.Event.T, TS: v.Event.TS, Pids: v.Event.Pids}
	dHash, id := hashing.ID(head, canonical)
	head.DHash = dHash
	if err := head.Validate(); err != nil {
		return v, err
	}
	v.CanonicalO, v.DHash, v.CanonicalHead, v.ID = string(canonical), dHash, string(hashing.AppendCanonicalHead(nil, head)), id
	return v, nil
}

// witness checks a computed vector without package hashing: canonical data
// from github.com/gowebpki/jcs, the head by string concatenation (the
// template of docs/hashing.md), SHA-256 from crypto/sha256.
func witness(v vector) []string {
	var bad []string
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	if c, err := jcs.Transform(v.Event.O); err != nil {
		bad = append(bad, "jcs: "+err.Error())
	} else if string(c) != v.CanonicalO {
		bad = append(bad, "canonicalO differs from jcs's "+string(c))
	}
	if v.DHash != sum(v.CanonicalO) {
		bad = append(bad, "dHash is not the SHA-256 of canonicalO")
	}
	pids := ""
	if len(v.Event.Pids) > 0 {
		pids = `"` + strings.Join(v.Event.Pids, `","`) + `"`
	}
	head := `{"cid":"` + v.Event.Cid + `","ct":"` + v.Event.Ct + `","dHash":"` + v.DHash + `","pids":[` + pids +
		`],"src":"` + v.Event.Src + `","t":"` + v.Event.T + `","ts":` + strconv.FormatInt(v.Event.TS, 10) + `}`
	if v.CanonicalHead != head {
		bad = append(bad, "canonicalHead differs from the template "+head)
	}
	if v.ID != sum(v.CanonicalHead) {
		bad = append(bad, "_id is not the SHA-256 of canonicalHead")
	}
	return bad
}

func encodeVectors(f vectorsFile) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// TestVectorsFile: testdata/vectors.json is what -update writes, so no
// computed field was edited by hand and the hashing has not changed under
// the vectors; every computed value is also checked without this package.
// With -update, the file is rewritten (only when every check passes).
func TestVectorsFile(t *testing.T) {
	raw, f := readVectorsFile(t)
	want := vectorsFile{Comment: vectorsComment}
	names := map[string]bool{}
	for _, v := range f.Vectors {
		if v.Name == "" || names[v.Name] {
			t.Errorf("vector name %q is empty or not unique", v.Name)
		}
		names[v.Name] = true
		c, err := computeVector(v)
		if err != nil {
			t.Errorf("%s: the event is refused: %v", v.Name, err)
			continue
		}
		for _, msg := range witness(c) {
			t.Errorf("%s: %s", v.Name, msg)
		}
		if !*update {
			for _, d := range []struct{ field, stored, computed string }{
				{"canonicalO", v.CanonicalO, c.CanonicalO}, {"dHash", v.DHash, c.DHash},
				{"canonicalHead", v.CanonicalHead, c.CanonicalHead}, {"_id", v.ID, c.ID},
			} {
				if d.stored != d.computed {
					t.Errorf("%s: stored %s %s, computed %s", v.Name, d.field, d.stored, d.computed)
				}
			}
		}
		want.Vectors = append(want.Vectors, c)
	}
	if t.Failed() {
		t.Fatalf("%s is not as the project makes it (see above); it is made by go test ./hashing -run '^TestVectorsFile$' -update", vectorsPath)
	}
	out := encodeVectors(want)
	if *update {
		if !bytes.Equal(out, raw) {
			if err := os.WriteFile(vectorsPath, out, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s (%d vectors)", vectorsPath, len(want.Vectors))
		}
		return
	}
	if !bytes.Equal(out, raw) {
		t.Errorf("%s differs from what go test ./hashing -run '^TestVectorsFile$' -update writes (the values agree: layout or comment only); run that command", vectorsPath)
	}
}

// TestVectorsAgreeWithSharedSpec: where the shared spec is checked out
// beside the project, every one of its vectors is in testdata/vectors.json
// under the same name, with the same event and the same computed values.
func TestVectorsAgreeWithSharedSpec(t *testing.T) {
	raw, err := os.ReadFile(sharedVectorsPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("skipping the cross-check with the shared spec: %s is absent (the shared spec is not checked out beside the project); the project's own testdata/vectors.json is checked by the other tests", sharedVectorsPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	var shared []vector
	if err := json.Unmarshal(raw, &shared); err != nil {
		t.Fatalf("%s: %v", sharedVectorsPath, err)
	}
	if len(shared) == 0 {
		t.Fatalf("%s: no vectors", sharedVectorsPath)
	}
	ours := map[string]vector{}
	for _, v := range loadVectors(t) {
		ours[v.Name] = v
	}
	for _, s := range shared {
		o, ok := ours[s.Name]
		if !ok {
			t.Errorf("the shared vector %q is not in %s: copy its name and event there and run go test ./hashing -run '^TestVectorsFile$' -update", s.Name, vectorsPath)
			continue
		}
		sameO := func(a, b json.RawMessage) bool {
			var ca, cb bytes.Buffer
			return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
		}
		sameEvent := s.Event.Src == o.Event.Src && s.Event.Ct == o.Event.Ct && s.Event.Cid == o.Event.Cid &&
			s.Event.T == o.Event.T && s.Event.TS == o.Event.TS && strings.Join(s.Event.Pids, ",") == strings.Join(o.Event.Pids, ",") &&
			sameO(s.Event.O, o.Event.O)
		if !sameEvent {
			t.Errorf("%s: the event differs from the shared spec's", s.Name)
		}
		if s.CanonicalO != o.CanonicalO || s.DHash != o.DHash || s.CanonicalHead != o.CanonicalHead || s.ID != o.ID {
			t.Errorf("%s: computed values differ from the shared spec's\n ours   %s %s %s %s\n shared %s %s %s %s", s.Name,
				o.CanonicalO, o.DHash, o.CanonicalHead, o.ID, s.CanonicalO, s.DHash, s.CanonicalHead, s.ID)
		}
	}
}

func TestVectorsFromRawJSON(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			_, canonical, err := hashing.ParseObject(v.Event.O)
			if err != nil {
				t.Fatal(err)
			}
			checkVector(t, v, canonical)
		})
	}
}

// TestVectorsFromBSON reproduces the vectors from the data as MongoDB hands
// it back: marshalled to BSON, then decoded as bson.Raw, bson.D and bson.M.
func TestVectorsFromBSON(t *testing.T) {
	for _, v := range loadVectors(t) {
		doc, _, err := hashing.ParseObject(v.Event.O)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := bsondata.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var asD bson.D
		var asM bson.M
		if err := bson.Unmarshal(raw, &asD); err != nil {
			t.Fatal(err)
		}
		if err := bson.Unmarshal(raw, &asM); err != nil {
			t.Fatal(err)
		}
		for name, decoded := range map[string]any{"raw": bson.Raw(raw), "D": asD, "M": asM} {
			t.Run(v.Name+"/"+name, func(t *testing.T) {
				canonical, err := bsondata.CanonicalObject(decoded)
				if err != nil {
					t.Fatal(err)
				}
				checkVector(t, v, canonical)
			})
		}
	}
}

// TestVectorsFromGoValues uses encoding/json's generic decoding (float64
// numbers, map[string]any objects), as a client library might.
func TestVectorsFromGoValues(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(v.Event.O, &m); err != nil {
				t.Fatal(err)
			}
			canonical, err := hashing.CanonicalObject(m)
			if err != nil {
				t.Fatal(err)
			}
			checkVector(t, v, canonical)
		})
	}
}

func checkVector(t *testing.T, v vector, canonical []byte) {
	t.Helper()
	if string(canonical) != v.CanonicalO {
		t.Errorf("canonicalO\n got %s\nwant %s", canonical, v.CanonicalO)
	}
	head := hashing.Head{Src: v.Event.Src, Ct: v.Event.Ct, Cid: v.Event.Cid, T: v.Event.T, TS: v.Event.TS, Pids: v.Event.Pids}
	dHash, id := hashing.ID(head, canonical)
	if dHash != v.DHash {
		t.Errorf("dHash %s, want %s", dHash, v.DHash)
	}
	head.DHash = dHash
	if err := head.Validate(); err != nil {
		t.Errorf("vector head refused: %v", err)
	}
	if got := string(hashing.AppendCanonicalHead(nil, head)); got != v.CanonicalHead {
		t.Errorf("canonicalHead\n got %s\nwant %s", got, v.CanonicalHead)
	}
	if id != v.ID {
		t.Errorf("_id %s, want %s", id, v.ID)
	}
}
