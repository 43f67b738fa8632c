package federation_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// driverMongo is the driver's package that federation must not import,
// nor any under it (its bson package is fine).
const driverMongo = "go.mongodb.org/mongo-driver/v2/mongo"

// TestReachesTheDatabaseOnlyThroughItsPackage: no non-test file of the
// package imports the driver's mongo package, so that federation reaches
// its collections through internal/database only, every write through the
// write gate.
func TestReachesTheDatabaseOnlyThroughItsPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == driverMongo || strings.HasPrefix(path, driverMongo+"/") {
				t.Errorf("%s imports %s: reach the database through internal/database", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
