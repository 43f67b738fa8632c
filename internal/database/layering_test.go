package database

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnePlaceKnowsTheBackend holds the module's layering over the
// database, in every non-test file:
//   - only internal/database and store import the driver's mongo package
//     (bson is everyone's): federation, audit, migrations and the rest
//     reach their collections through this package, every write through
//     the write gate;
//   - only internal/database imports FerretDB or SQLite;
//   - nothing outside it reads Backend.FerretDB: the rest asks what the
//     backend can do, never which it is.
func TestOnePlaceKnowsTheBackend(t *testing.T) {
	const driverMongo = "go.mongodb.org/mongo-driver/v2/mongo"
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "js" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		if pkg == "internal/database" {
			return nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case (p == driverMongo || strings.HasPrefix(p, driverMongo+"/")) && pkg != "store":
				t.Errorf("%s imports %s: reach the database through internal/database", rel, p)
			case strings.HasPrefix(p, "github.com/FerretDB/") || strings.HasPrefix(p, "modernc.org/sqlite"):
				t.Errorf("%s imports %s: only internal/database knows FerretDB", rel, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "FerretDB" {
				t.Errorf("%s reads .FerretDB: ask the backend what it can do instead", rel)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d source files found", checked)
	}
}
