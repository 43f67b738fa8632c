package edits

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"encoding/json"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/hashing"
)

// Edit is the change an update makes to a target's d: members to set and
// members to remove, each named by a path of member names joined by '.'
// ("msg", "u.username"). Sets apply before unsets; a path may not appear
// twice, nor lie inside another path of the same edit.
type Edit struct {
	Set   []SetOp
	Unset []string
}

// SetOp sets the member at Path to Value, data as hashing.Parse returns
// it (hashing.Object, []any, string, float64, int64, bool or nil).
type SetOp struct {
	Path  string
	Value any
}

const maxPathSegments = hashing.MaxDepth

// Validate checks the paths and values of an edit.
func (ed Edit) Validate() error {
	if len(ed.Set) == 0 && len(ed.Unset) == 0 {
		return eventstore.Errorf(eventstore.EINVALID, "an update must set or unset at least one path")
	}
	var paths []string
	for _, op := range ed.Set {
		if err := validatePath(op.Path); err != nil {
			return err
		}
		if _, err := hashing.Canonical(op.Value); err != nil {
			return eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("set %q: %w", op.Path, err))
		}
		paths = append(paths, op.Path)
	}
	for _, p := range ed.Unset {
		if err := validatePath(p); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for i := 1; i < len(paths); i++ {
		if paths[i] == paths[i-1] || strings.HasPrefix(paths[i], paths[i-1]+".") {
			return eventstore.Errorf(eventstore.EINVALID, "paths %q and %q overlap", paths[i-1], paths[i])
		}
	}
	return nil
}

func validatePath(p string) error {
	segments := strings.Split(p, ".")
	if p == "" || len(segments) > maxPathSegments {
		return eventstore.Errorf(eventstore.EINVALID, "path %q: want 1 to %d member names joined by '.'", p, maxPathSegments)
	}
	for _, s := range segments {
		if s == "" {
			return eventstore.Errorf(eventstore.EINVALID, "path %q has an empty member name", p)
		}
		if err := hashing.ValidateMemberName(s); err != nil {
			return eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("path %q: %w", p, err))
		}
	}
	return nil
}

// Encode is the o of an update (or, with an empty edit, delete) event, as
// canonical JSON: {"set": [{"path", "value"}…], "target": id, "unset":
// [path…]}, set and unset sorted by path and left out when empty. The
// error is an *eventstore.Error (EINVALIDDATA) for a value outside the
// data rules.
func Encode(target string, ed Edit) (json.RawMessage, error) {
	o := hashing.Object{}
	if len(ed.Set) > 0 {
		set := slices.Clone(ed.Set)
		slices.SortFunc(set, func(a, b SetOp) int { return strings.Compare(a.Path, b.Path) })
		arr := make([]any, len(set))
		for i, op := range set {
			arr[i] = hashing.Object{{Name: "path", Value: op.Path}, {Name: "value", Value: op.Value}}
		}
		o = append(o, hashing.Member{Name: "set", Value: arr})
	}
	o = append(o, hashing.Member{Name: "target", Value: target})
	if len(ed.Unset) > 0 {
		arr := make([]any, 0, len(ed.Unset))
		for _, p := range slices.Sorted(slices.Values(ed.Unset)) {
			arr = append(arr, p)
		}
		o = append(o, hashing.Member{Name: "unset", Value: arr})
	}
	js, err := hashing.CanonicalObject(o)
	if err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALIDDATA, err)
	}
	return js, nil
}

// Parse reads the target and the edit from the o of an event.update or
// event.delete event, checking its shape (events may come from peers).
func Parse(t string, o json.RawMessage) (target string, ed Edit, err error) {
	bad := func(format string, args ...any) (string, Edit, error) {
		return "", Edit{}, eventstore.Errorf(eventstore.EINVALIDDATA, "%s: "+format, append([]any{t}, args...)...)
	}
	doc, _, err := hashing.ParseObject(o)
	if err != nil {
		return bad("o: %v", err)
	}
	allowed := map[string]bool{"target": true, "set": t == eventstore.TypeUpdate, "unset": t == eventstore.TypeUpdate}
	for _, m := range doc {
		if !allowed[m.Name] {
			return bad("unexpected member %q in o", m.Name)
		}
		switch m.Name {
		case "target":
			target, _ = m.Value.(string)
		case "set":
			items, ok := m.Value.([]any)
			if !ok {
				return bad("set must be an array")
			}
			for _, item := range items {
				op, ok := parseSetOp(item)
				if !ok {
					return bad("each set must be {path, value} with a string path")
				}
				ed.Set = append(ed.Set, op)
			}
		case "unset":
			items, ok := m.Value.([]any)
			if !ok {
				return bad("unset must be an array")
			}
			for _, item := range items {
				p, ok := item.(string)
				if !ok {
					return bad("unset must hold paths (strings)")
				}
				ed.Unset = append(ed.Unset, p)
			}
		}
	}
	if err := hashing.ValidateEventID(target); err != nil {
		return "", Edit{}, eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("%s: target: %w", t, err))
	}
	if t == eventstore.TypeUpdate {
		if err := ed.Validate(); err != nil {
			return "", Edit{}, err
		}
	}
	return target, ed, nil
}

// parseSetOp reads one member of set; members other than path and value
// are ignored, as they always were.
func parseSetOp(item any) (op SetOp, ok bool) {
	obj, isObj := item.(hashing.Object)
	if !isObj {
		return SetOp{}, false
	}
	hasPath, hasValue := false, false
	for _, m := range obj {
		switch m.Name {
		case "path":
			op.Path, hasPath = m.Value.(string)
		case "value":
			op.Value, hasValue = m.Value, true
		}
	}
	return op, hasPath && hasValue
}

// ErrNotApplicable marks an edit that cannot apply to the current data; the
// fold leaves d as it was, the same way on every server.
var ErrNotApplicable = errors.New("edit does not apply")

// Apply returns d with the edit applied: sets first, then unsets. A set
// whose path crosses a non-object, or a result beyond the data limits,
// skips the whole edit (ErrNotApplicable). d itself is not changed.
func (ed Edit) Apply(d hashing.Object) (hashing.Object, error) {
	out := cloneDoc(d)
	for _, op := range ed.Set {
		var ok bool
		if out, ok = setPath(out, strings.Split(op.Path, "."), op.Value); !ok {
			return d, ErrNotApplicable
		}
	}
	for _, p := range ed.Unset {
		out = unsetPath(out, strings.Split(p, "."))
	}
	if _, err := hashing.CanonicalObject(out); err != nil {
		return d, ErrNotApplicable
	}
	return out, nil
}

func setPath(d hashing.Object, path []string, v any) (hashing.Object, bool) {
	for i := range d {
		if d[i].Name != path[0] {
			continue
		}
		if len(path) == 1 {
			d[i].Value = v
			return d, true
		}
		child, ok := d[i].Value.(hashing.Object)
		if !ok {
			return d, false
		}
		child, ok = setPath(child, path[1:], v)
		d[i].Value = child
		return d, ok
	}
	if len(path) == 1 {
		return append(d, hashing.Member{Name: path[0], Value: v}), true
	}
	child, ok := setPath(hashing.Object{}, path[1:], v)
	return append(d, hashing.Member{Name: path[0], Value: child}), ok
}

func unsetPath(d hashing.Object, path []string) hashing.Object {
	for i := range d {
		if d[i].Name != path[0] {
			continue
		}
		if len(path) == 1 {
			return slices.Delete(d, i, i+1)
		}
		if child, ok := d[i].Value.(hashing.Object); ok {
			d[i].Value = unsetPath(child, path[1:])
		}
		return d
	}
	return d
}

// cloneDoc copies the objects of d (values are replaced, never mutated).
func cloneDoc(d hashing.Object) hashing.Object {
	out := make(hashing.Object, len(d))
	for i, m := range d {
		if child, ok := m.Value.(hashing.Object); ok {
			m.Value = cloneDoc(child)
		}
		out[i] = m
	}
	return out
}

// DecodeData parses data (an o or a d, as JSON) into the object Apply
// takes; nil data is an empty object.
func DecodeData(js json.RawMessage) (hashing.Object, error) {
	if js == nil {
		return hashing.Object{}, nil
	}
	d, _, err := hashing.ParseObject(js)
	if err != nil {
		return nil, eventstore.WrapError(eventstore.EINVALIDDATA, err)
	}
	return d, nil
}
