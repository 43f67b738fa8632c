package storetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/eventstore-go/eventstore/internal/database"
	"github.com/eventstore-go/eventstore/migrations"
)

// The command check: with MongoDB's read paths on (MongoDBReadsVariable),
// every command a test connection sends is checked against the shard key
// its collection declares (migrations.ShardKey). An operation on a
// collection meant to be sharded must carry its shard key — an equality or
// an $in on it, in every filter; every inserted document holds it — or run
// in a context marked as one of the named scatter operations
// (database.Scatter). Main fails the package on any other.

// Shapes collects the commands that break the check.
type Shapes struct {
	mu     sync.Mutex
	broken map[string]int // "command collection: why" → how often
	seen   int
}

// shapes is the check of this test binary, when on.
var shapes = &Shapes{broken: map[string]int{}}

// checkingShapes reports whether the command check is on.
func checkingShapes() bool { return os.Getenv(MongoDBReadsVariable) != "" }

// CommandMonitor is the check's monitor, calling next (if any) as well;
// nil when the check is off and next is nil.
func CommandMonitor(next *event.CommandMonitor) *event.CommandMonitor {
	if !checkingShapes() {
		return next
	}
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			shapes.Check(ctx, e.CommandName, e.Command)
			if next != nil && next.Started != nil {
				next.Started(ctx, e)
			}
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			if next != nil && next.Succeeded != nil {
				next.Succeeded(ctx, e)
			}
		},
		Failed: func(ctx context.Context, e *event.CommandFailedEvent) {
			if next != nil && next.Failed != nil {
				next.Failed(ctx, e)
			}
		},
	}
}

// Check checks one command and records it if it breaks the rule.
func (s *Shapes) Check(ctx context.Context, name string, cmd bson.Raw) {
	coll, _ := cmd.Lookup(name).StringValueOK()
	key := migrations.ShardKey(coll)
	if key == "" {
		return
	}
	from, test := caller()
	if test {
		return // a test reading or writing the database itself
	}
	why := commandShape(name, key, cmd)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen++
	if why != "" && database.ScatterOf(ctx) == "" {
		s.broken[fmt.Sprintf("%s %s: %s, from %s", name, shapeName(coll), why, from)]++
	}
}

// shapeName is a collection's name with its context type made generic.
func shapeName(coll string) string {
	for _, suffix := range []string{"_events", "_edits"} {
		if strings.HasSuffix(coll, suffix) {
			return "<ct>" + suffix
		}
	}
	return coll
}

// commandShape says why command name on a collection sharded on key would
// go to every shard, or "" if it goes to those that hold its key.
func commandShape(name, key string, cmd bson.Raw) string {
	filters := func(list, field string) []bson.Raw {
		arr, _ := cmd.Lookup(list).ArrayOK()
		vals, _ := arr.Values()
		var out []bson.Raw
		for _, v := range vals {
			doc, _ := v.DocumentOK()
			f, _ := doc.Lookup(field).DocumentOK()
			out = append(out, f)
		}
		return out
	}
	var checked []bson.Raw
	switch name {
	case "find", "count", "distinct", "findAndModify":
		field := map[string]string{"find": "filter", "count": "query", "distinct": "query", "findAndModify": "query"}[name]
		f, _ := cmd.Lookup(field).DocumentOK()
		checked = []bson.Raw{f}
	case "update":
		checked = filters("updates", "q")
	case "delete":
		checked = filters("deletes", "q")
	case "aggregate":
		stages, _ := cmd.Lookup("pipeline").ArrayOK()
		first, _ := stages.Index(0).DocumentOK()
		match, _ := first.Lookup("$match").DocumentOK()
		checked = []bson.Raw{match}
	case "insert":
		docs, _ := cmd.Lookup("documents").ArrayOK()
		vals, _ := docs.Values()
		for _, v := range vals {
			doc, _ := v.DocumentOK()
			if _, err := doc.LookupErr(key); err != nil {
				return "a document without " + key
			}
		}
		return ""
	default: // not an operation on documents (getMore, indexes, drop …)
		return ""
	}
	for _, f := range checked {
		if !targets(f, key) {
			return fmt.Sprintf("filter without %s %v", key, fieldsOf(f))
		}
	}
	return ""
}

// targets reports whether filter pins key to one value or a list.
func targets(filter bson.Raw, key string) bool {
	v, err := filter.LookupErr(key)
	if err != nil {
		return false
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return true // an equality
	}
	elems, _ := doc.Elements()
	return len(elems) == 1 && slices.Contains([]string{"$eq", "$in"}, elems[0].Key())
}

// caller is the function of this module that sent the command being
// checked (the monitor runs in its goroutine), and whether it is test code.
func caller() (string, bool) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "github.com/eventstore-go/eventstore/") && !strings.Contains(f.Function, "/storetest.") &&
			!strings.Contains(f.Function, "/internal/database.") {
			name := f.Function[strings.LastIndex(f.Function, "/")+1:]
			return fmt.Sprintf("%s (%s:%d)", name, filepath.Base(f.File), f.Line), strings.HasSuffix(f.File, "_test.go")
		}
		if !more {
			return "?", false
		}
	}
}

// fieldsOf lists the top-level fields of filter.
func fieldsOf(filter bson.Raw) []string {
	elems, _ := filter.Elements()
	names := make([]string, len(elems))
	for i, e := range elems {
		names[i] = e.Key()
	}
	return names
}

// report prints what broke the check and says whether anything did.
func (s *Shapes) report() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.broken) == 0 {
		fmt.Fprintf(os.Stderr, "storetest: %d commands on collections meant to be sharded, each targeted or a named scatter\n", s.seen)
		return false
	}
	lines := make([]string, 0, len(s.broken))
	for shape, n := range s.broken {
		lines = append(lines, fmt.Sprintf("  %s (%d×)", shape, n))
	}
	sort.Strings(lines)
	fmt.Fprintf(os.Stderr, "storetest: commands that a sharded cluster would send to every shard, outside the named scatter operations (docs/scaling.md):\n%s\n",
		strings.Join(lines, "\n"))
	return true
}
