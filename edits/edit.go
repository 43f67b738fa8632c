package edits

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

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

// SetOp sets the member at Path to Value (data decoded by hashing.Parse).
type SetOp struct {
	Path  string `bson:"path"`
	Value any    `bson:"value"`
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

// Encode is the o of an update (or, with an empty edit, delete) event:
// {"set": [{"path", "value"}…], "target": id, "unset": [path…]}, members
// in canonical order, set and unset sorted by path and left out when empty.
func Encode(target string, ed Edit) bson.D {
	o := bson.D{}
	if len(ed.Set) > 0 {
		set := slices.Clone(ed.Set)
		slices.SortFunc(set, func(a, b SetOp) int { return strings.Compare(a.Path, b.Path) })
		arr := bson.A{}
		for _, op := range set {
			arr = append(arr, bson.D{{Key: "path", Value: op.Path}, {Key: "value", Value: op.Value}})
		}
		o = append(o, bson.E{Key: "set", Value: arr})
	}
	o = append(o, bson.E{Key: "target", Value: target})
	if len(ed.Unset) > 0 {
		unset := slices.Sorted(slices.Values(ed.Unset))
		arr := bson.A{}
		for _, p := range unset {
			arr = append(arr, p)
		}
		o = append(o, bson.E{Key: "unset", Value: arr})
	}
	return o
}

// encoded is how an edit event's o decodes.
type encoded struct {
	Target string   `bson:"target"`
	Set    []SetOp  `bson:"set"`
	Unset  []string `bson:"unset"`
}

// Parse reads the target and the edit from the o of an event.update or
// event.delete event, checking its shape (events may come from peers).
func Parse(t string, o bson.Raw) (target string, ed Edit, err error) {
	var doc encoded
	if err := bson.Unmarshal(o, &doc); err != nil {
		return "", Edit{}, eventstore.Errorf(eventstore.EINVALIDDATA, "%s: o must be {target, set?, unset?}: %v", t, err)
	}
	if err := hashing.ValidateEventID(doc.Target); err != nil {
		return "", Edit{}, eventstore.WrapError(eventstore.EINVALIDDATA, fmt.Errorf("%s: target: %w", t, err))
	}
	allowed := map[string]bool{"target": true, "set": t == eventstore.TypeUpdate, "unset": t == eventstore.TypeUpdate}
	elems, _ := o.Elements()
	for _, el := range elems {
		if !allowed[el.Key()] {
			return "", Edit{}, eventstore.Errorf(eventstore.EINVALIDDATA, "%s: unexpected member %q in o", t, el.Key())
		}
	}
	ed = Edit{Set: doc.Set, Unset: doc.Unset}
	if t == eventstore.TypeUpdate {
		if err := ed.Validate(); err != nil {
			return "", Edit{}, err
		}
	}
	return doc.Target, ed, nil
}

// ErrNotApplicable marks an edit that cannot apply to the current data; the
// fold leaves d as it was, the same way on every server.
var ErrNotApplicable = errors.New("edit does not apply")

// Apply returns d with the edit applied: sets first, then unsets. A set
// whose path crosses a non-object, or a result beyond the data limits,
// skips the whole edit (ErrNotApplicable). d itself is not changed.
func (ed Edit) Apply(d bson.D) (bson.D, error) {
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

func setPath(d bson.D, path []string, v any) (bson.D, bool) {
	for i := range d {
		if d[i].Key != path[0] {
			continue
		}
		if len(path) == 1 {
			d[i].Value = v
			return d, true
		}
		child, ok := d[i].Value.(bson.D)
		if !ok {
			return d, false
		}
		child, ok = setPath(child, path[1:], v)
		d[i].Value = child
		return d, ok
	}
	if len(path) == 1 {
		return append(d, bson.E{Key: path[0], Value: v}), true
	}
	child, ok := setPath(bson.D{}, path[1:], v)
	return append(d, bson.E{Key: path[0], Value: child}), ok
}

func unsetPath(d bson.D, path []string) bson.D {
	for i := range d {
		if d[i].Key != path[0] {
			continue
		}
		if len(path) == 1 {
			return slices.Delete(d, i, i+1)
		}
		if child, ok := d[i].Value.(bson.D); ok {
			d[i].Value = unsetPath(child, path[1:])
		}
		return d
	}
	return d
}

// cloneDoc copies the documents of d (values are replaced, never mutated).
func cloneDoc(d bson.D) bson.D {
	out := make(bson.D, len(d))
	for i, e := range d {
		if child, ok := e.Value.(bson.D); ok {
			e.Value = cloneDoc(child)
		}
		out[i] = e
	}
	return out
}

// DecodeData turns data (an o or a d) into a bson.D whose nested documents
// are bson.D too, as Apply expects; nil data is an empty document.
func DecodeData(raw bson.Raw) (bson.D, error) {
	if raw == nil {
		return bson.D{}, nil
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	return d, nil
}
