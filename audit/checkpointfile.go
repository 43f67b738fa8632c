package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// The checkpoint file holds every context's checkpoint, signed by this
// server's key, off the database: someone who can write to the database
// can delete or forge the checkpoints there (unless they also hold the
// key), and rewrite or truncate a history to match; not this file. A run
// with Options.CheckpointFile holds each context's history to the file's
// checkpoint as to the database's, reports a context of the file that is
// gone, and then writes the file again with the checkpoints of the
// contexts it found clean (the others keep theirs).

// checkpointFile is the file's checkpoints and what this run did with them.
type checkpointFile struct {
	path  string
	cps   map[string]*checkpoint
	seen  map[string]bool        // the contexts this run audited
	clean map[string]*checkpoint // their new checkpoints, if clean
}

// readCheckpointFile reads and verifies the file at path; a file that does
// not exist yet is empty.
func (a *Auditor) readCheckpointFile(path string) (*checkpointFile, error) {
	if a.signer == nil || a.verifiers == nil {
		return nil, errors.New("a checkpoint file needs this server's signing key")
	}
	f := &checkpointFile{path: path, cps: map[string]*checkpoint{}, seen: map[string]bool{}, clean: map[string]*checkpoint{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint file: %w", err)
	}
	cps, err := openCheckpoints(raw, a.verifiers)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint file %s: %w", path, err)
	}
	for _, cp := range cps {
		f.cps[cp.ID] = cp
	}
	return f, nil
}

// write replaces the file by one with the new checkpoints, atomically (a
// new file renamed over the old). It returns how many contexts it holds.
func (f *checkpointFile) write(a *Auditor) (int, error) {
	next := maps.Clone(f.cps)
	maps.Copy(next, f.clean)
	ids := slices.Sorted(maps.Keys(next))
	cps := make([]*checkpoint, len(ids))
	for i, id := range ids {
		cps[i] = next[id]
	}
	signed, err := signCheckpoints(a.signer, cps)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".*")
	if err != nil {
		return 0, fmt.Errorf("writing the checkpoint file: %w", err)
	}
	defer os.Remove(tmp.Name()) // once renamed, there is nothing to remove
	if _, err := tmp.Write(signed); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing the checkpoint file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("writing the checkpoint file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("writing the checkpoint file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return 0, fmt.Errorf("writing the checkpoint file: %w", err)
	}
	return len(cps), nil
}

// missing reports the contexts of the file, within the run's scope, that
// the run did not find.
func (f *checkpointFile) missing(r *run) {
	for _, id := range slices.Sorted(maps.Keys(f.cps)) {
		cp := f.cps[id]
		if f.seen[id] || r.opts.Ct != "" && (cp.Ct != r.opts.Ct || cp.Cid != r.opts.Cid) {
			continue
		}
		p := Problem{Kind: ProblemHistoryRewritten, Ct: cp.Ct, Cid: cp.Cid,
			Detail: fmt.Sprintf("the checkpoint file has this context at version %d with %d events; it is no longer stored", cp.Seq, cp.Count)}
		r.rep.Problems = append(r.rep.Problems, p)
		r.rep.ByKind[p.Kind]++
	}
}
