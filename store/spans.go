package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/eventstore-go/eventstore/migrations"
)

// Spans: the compact form of old head versions and commit log entries.
//
// A head version holds what the next write needs (leaves, count, genesis,
// participants, flags) and what the timeline and the federation need for
// ever (which events it added, their positions and types, which were
// created here, its commit log entry, when it was written). Once a newer
// version exists and the version is old enough (compact.go), only the
// second part is kept: it moves into the context's version span for its
// range of spanVersions seqs, "<cid>#s<k>", one line per version, and the
// version document is deleted. Commit log entries likewise move into
// entry spans, "~log#s<k>", spanEntries entries each. Readers look for the
// document first and the span second (readHead, entryAt), so a version or
// an entry reads the same before and after; the compactor writes a span
// before it deletes what the span holds.
//
// The lines are plain strings because FerretDB stores a type schema for
// every field and every array element: an array of 64 sub-documents would
// repeat theirs 64 times. Event ids are hex, types and context ids have
// neither spaces nor commas (hashing.Validate*), so a line splits cleanly.

const (
	spanVersions = 64  // versions per version span
	spanEntries  = 256 // entries per entry span
)

// spanDoc is a version span or an entry span.
type spanDoc struct {
	ID     string   `bson:"_id"`
	Cid    string   `bson:"cid,omitempty"` // the context, or migrations.LogCid
	Folded []string `bson:"folded"`        // one line per version or entry, in order
}

func versionSpanID(cid string, seq int64) string {
	return fmt.Sprintf("%s#s%d", cid, (seq-1)/spanVersions)
}

func entrySpanID(n int64) string {
	return fmt.Sprintf("%ss%d", migrations.LogEntryPrefix, (n-1)/spanEntries)
}

// foldedLine is version h as a line of its span:
// "seq pos log at local types ids", local being "*" (all), "-" (none) or
// the indexes of Added created here.
func foldedLine(h *head) string {
	local := "-"
	switch {
	case h.AllLocal && len(h.Added) > 0:
		local = "*"
	case len(h.Local) > 0:
		var idx []string
		for i, id := range h.Added {
			if slices.Contains(h.Local, id) {
				idx = append(idx, strconv.Itoa(i))
			}
		}
		if len(idx) > 0 {
			local = strings.Join(idx, ",")
		}
	}
	return fmt.Sprintf("%d %d %d %d %s %s %s", h.Seq, h.Pos, h.Log, int64(h.At), local,
		strings.Join(h.Types, ","), strings.Join(h.Added, ","))
}

// parseFoldedLine reads a line of a version span back as a head that has
// only what a span keeps; folded marks it.
func parseFoldedLine(cid, line string) (*head, error) {
	f := strings.Split(line, " ")
	if len(f) != 7 {
		return nil, fmt.Errorf("version span line %q of %s has %d fields", line, cid, len(f))
	}
	var n [4]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("version span line %q of %s: %w", line, cid, err)
		}
		n[i] = v
	}
	h := &head{Cid: cid, Seq: n[0], Pos: n[1], Log: n[2], At: bson.DateTime(n[3]), folded: true}
	if f[6] != "" {
		h.Added, h.Types = strings.Split(f[6], ","), strings.Split(f[5], ",")
	}
	switch f[4] {
	case "*":
		h.AllLocal = len(h.Added) > 0
	case "-":
	default:
		for _, s := range strings.Split(f[4], ",") {
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(h.Added) {
				return nil, fmt.Errorf("version span line %q of %s: bad local index %q", line, cid, s)
			}
			h.Local = append(h.Local, h.Added[i])
		}
	}
	return h, nil
}

// entryLine is entry d as a line of its span: "n seq cid", or "n -" void.
func entryLine(n int64, d *logDoc) string {
	if d.Void || d.Cid == "" {
		return fmt.Sprintf("%d -", n)
	}
	return fmt.Sprintf("%d %d %s", n, d.Seq, d.Cid)
}

func parseEntryLine(line string) (int64, *logDoc, error) {
	f := strings.Split(line, " ")
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || (len(f) != 2 && len(f) != 3) {
		return 0, nil, fmt.Errorf("entry span line %q", line)
	}
	d := &logDoc{ID: migrations.LogEntryID(n)}
	if len(f) == 2 {
		d.Void = true
		return n, d, nil
	}
	if d.Seq, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return 0, nil, fmt.Errorf("entry span line %q", line)
	}
	d.Cid = f[2]
	return n, d, nil
}

// spanCache keeps spans read recently. A span only ever gains lines, so a
// cached one is right for what it holds, and a line it lacks is read
// again.
type spanCache struct {
	mu    sync.Mutex
	spans map[string]*spanDoc // by collection and _id
	bytes int
}

// maxCachedSpanBytes bounds the lines the cache holds (a span of large
// batches holds up to 64 × 98 event ids).
const maxCachedSpanBytes = 16 << 20

func (c *spanCache) get(key string) *spanDoc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spans[key]
}

func (c *spanCache) put(key string, d *spanDoc) {
	size := 0
	for _, l := range d.Folded {
		size += len(l)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.spans == nil || c.bytes+size > maxCachedSpanBytes {
		c.spans, c.bytes = map[string]*spanDoc{}, 0
	}
	if old := c.spans[key]; old != nil {
		for _, l := range old.Folded {
			c.bytes -= len(l)
		}
	}
	c.spans[key] = d
	c.bytes += size
}

// cachedVersion is version seq of a context if a cached span holds it: a
// folded version, whose document is gone, read without a round trip.
func (s *Store) cachedVersion(ct, cid string, seq int64) *head {
	d := s.spans.get(ct + "/" + versionSpanID(cid, seq))
	if d == nil {
		return nil
	}
	if line := d.line(seq); line != "" {
		if h, err := parseFoldedLine(cid, line); err == nil {
			return h
		}
	}
	return nil
}

// line is the line of d for number n (a seq or an entry number), or "".
func (d *spanDoc) line(n int64) string {
	prefix := strconv.FormatInt(n, 10) + " "
	for _, line := range d.Folded {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// readSpan reads span id of context cid of type ct (migrations.LogCid:
// an entry span); nil if none. fresh skips the cache.
func (s *Store) readSpan(ctx context.Context, ct, cid, id string, fresh bool) (*spanDoc, error) {
	key := ct + "/" + id
	if !fresh {
		if d := s.spans.get(key); d != nil {
			return d, nil
		}
	}
	var d spanDoc
	found, err := s.findIn(ctx, ct, cid, id, &d)
	if err != nil || !found {
		return nil, err
	}
	s.spans.put(key, &d)
	return &d, nil
}

// spanLine finds the line of span id that starts with number n, reading
// the span again if a cached copy lacks it; "" if it holds none.
func (s *Store) spanLine(ctx context.Context, ct, cid, id string, n int64) (string, error) {
	for _, fresh := range []bool{false, true} {
		d, err := s.readSpan(ctx, ct, cid, id, fresh)
		if err != nil || d == nil {
			return "", err
		}
		if line := d.line(n); line != "" {
			return line, nil
		}
	}
	return "", nil
}

// foldedVersion is version seq of a context as its span holds it, or nil.
func (s *Store) foldedVersion(ctx context.Context, ct, cid string, seq int64) (*head, error) {
	line, err := s.spanLine(ctx, ct, cid, versionSpanID(cid, seq), seq)
	if err != nil || line == "" {
		return nil, err
	}
	return parseFoldedLine(cid, line)
}

// entryAt reads commit log entry n: its document, or its line in an entry
// span; nil if neither exists.
func (s *Store) entryAt(ctx context.Context, ct string, n int64) (*logDoc, error) {
	var d logDoc
	found, err := s.findIn(ctx, ct, migrations.LogCid, migrations.LogEntryID(n), &d)
	if err != nil {
		return nil, err
	}
	if found {
		return d.upgrade(), nil
	}
	line, err := s.spanLine(ctx, ct, migrations.LogCid, entrySpanID(n), n)
	if err != nil || line == "" {
		return nil, err
	}
	_, e, err := parseEntryLine(line)
	return e, err
}
