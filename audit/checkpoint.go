package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/mod/sumdb/note"

	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/store"
)

// checkpoint is how far the audit verified a context: its head version,
// event count and leaves then. Incremental runs check what came after, and
// that these leaves are still in the history.
type checkpoint struct {
	ID         string        `bson:"_id"` // ct/cid
	Ct         string        `bson:"ct"`
	Cid        string        `bson:"cid"`
	Seq        int64         `bson:"seq"`
	Count      int64         `bson:"count"`
	Leaves     []string      `bson:"leaves"`
	LeavesHash string        `bson:"leavesHash"` // SHA-256 of the sorted leaves, joined by ","
	At         bson.DateTime `bson:"at"`
	// Note is the checkpoint as a note signed by this server's key
	// (checkpointText): what an audit with the server's keys trusts.
	Note string `bson:"note,omitempty"`
	// Bad says why a checkpoint's note does not verify: it is then not
	// used, and reported as bad_checkpoint.
	Bad string `bson:"-"`
}

func checkpointID(ct, cid string) string { return ct + "/" + cid }

func leavesHash(leaves []string) string {
	sum := sha256.Sum256([]byte(strings.Join(leaves, ",")))
	return hex.EncodeToString(sum[:])
}

// usable reports whether cp is a checkpoint to hold history to.
func (cp *checkpoint) usable() bool { return cp != nil && cp.Bad == "" }

// checkpoint reads the checkpoint of ct/cid; nil if there is none. With
// the server's keys (Config.Verifiers) only a signed checkpoint counts: one
// whose note does not verify comes back Bad, an unsigned one (written
// before checkpoints were signed) as none.
func (a *Auditor) checkpoint(ctx context.Context, ct, cid string) (*checkpoint, error) {
	var cp checkpoint
	err := a.checkpoints.FindOne(ctx, bson.D{{Key: "_id", Value: checkpointID(ct, cid)}}, &cp)
	if errors.Is(err, database.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint of %s/%s: %w", ct, cid, err)
	}
	if a.verifiers == nil {
		return &cp, nil
	}
	if cp.Note == "" {
		a.log.Warn("an unsigned audit checkpoint is not used; the next clean run signs one", "ct", ct, "cid", cid)
		return nil, nil
	}
	signed, err := openCheckpoints([]byte(cp.Note), a.verifiers)
	if err == nil && (len(signed) != 1 || signed[0].ID != cp.ID) {
		err = errors.New("the note is of another context")
	}
	if err != nil {
		return &checkpoint{ID: cp.ID, Ct: ct, Cid: cid, Bad: err.Error()}, nil
	}
	return signed[0], nil
}

func (a *Auditor) saveCheckpoint(ctx context.Context, ct, cid string, h *store.HeadVersion) error {
	cp := newCheckpoint(ct, cid, h)
	cp.At = bson.DateTime(a.now().UnixMilli())
	if a.signer != nil {
		signed, err := signCheckpoints(a.signer, []*checkpoint{cp})
		if err != nil {
			return err
		}
		cp.Note = string(signed)
	}
	return a.checkpoints.ReplaceOne(ctx, bson.D{{Key: "_id", Value: cp.ID}}, cp, true)
}

func newCheckpoint(ct, cid string, h *store.HeadVersion) *checkpoint {
	return &checkpoint{ID: checkpointID(ct, cid), Ct: ct, Cid: cid, Seq: h.Seq, Count: h.Count, Leaves: h.Leaves,
		LeavesHash: leavesHash(h.Leaves)}
}

// checkpointed lists the contexts of type ct in the registry and reports
// whether all of them have a checkpoint to start from.
func (a *Auditor) checkpointed(ctx context.Context, ct string) ([]string, bool, error) {
	cids, err := a.src.Contexts(ctx, ct)
	if err != nil {
		return nil, false, err
	}
	for _, cid := range cids {
		cp, err := a.checkpoint(ctx, ct, cid)
		if err != nil {
			return nil, false, err
		}
		if !cp.usable() {
			return nil, false, nil
		}
	}
	slices.Sort(cids)
	return cids, true, nil
}

// Checkpoints as text, signed as a note (C2SP signed-note, the format of
// transparency logs' checkpoints, via golang.org/x/mod/sumdb/note): a
// header line, the server's name, the number of contexts, then one line
// per context: "ct/cid seq count leaf,leaf,…". The database keeps one
// context per note; the checkpoint file all of them.
const checkpointsHeader = "eventstore checkpoints v1"

func checkpointText(server string, cps []*checkpoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\n%d\n", checkpointsHeader, server, len(cps))
	for _, cp := range cps {
		fmt.Fprintf(&b, "%s %d %d %s\n", cp.ID, cp.Seq, cp.Count, strings.Join(cp.Leaves, ","))
	}
	return b.String()
}

func signCheckpoints(signer note.Signer, cps []*checkpoint) ([]byte, error) {
	return note.Sign(&note.Note{Text: checkpointText(signer.Name(), cps)}, signer)
}

// openCheckpoints verifies a signed note of checkpoints and reads them.
func openCheckpoints(msg []byte, verifiers note.Verifiers) ([]*checkpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return nil, fmt.Errorf("the signature does not verify: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != checkpointsHeader {
		return nil, fmt.Errorf("not a note of checkpoints (it must start with %q)", checkpointsHeader)
	}
	if signer := n.Sigs[0].Name; lines[1] != signer {
		return nil, fmt.Errorf("checkpoints of %s signed by %s", lines[1], signer)
	}
	var count int
	if _, err := fmt.Sscanf(lines[2], "%d", &count); err != nil || count != len(lines)-3 {
		return nil, fmt.Errorf("the note says %q contexts and holds %d", lines[2], len(lines)-3)
	}
	cps := make([]*checkpoint, 0, count)
	for _, line := range lines[3:] {
		var cp checkpoint
		var leaves string
		if _, err := fmt.Sscanf(line, "%s %d %d %s", &cp.ID, &cp.Seq, &cp.Count, &leaves); err != nil {
			return nil, fmt.Errorf("checkpoint line %q: %v", line, err)
		}
		var ok bool
		if cp.Ct, cp.Cid, ok = strings.Cut(cp.ID, "/"); !ok {
			return nil, fmt.Errorf("checkpoint line %q: the context is not ct/cid", line)
		}
		cp.Leaves = strings.Split(leaves, ",")
		cp.LeavesHash = leavesHash(cp.Leaves)
		cps = append(cps, &cp)
	}
	return cps, nil
}
