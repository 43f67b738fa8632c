package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxPublicFace bounds store's public face (issue 28): exported top-level
// declarations plus exported methods of *Store, counted as go doc shows
// them.
const maxPublicFace = 60

// TestPublicFace: store exports what its consumers use and no more. Its
// exported declarations and *Store's exported methods stay within
// maxPublicFace, and each exported name of the package (types, functions,
// constants, variables, methods of exported types) is used by some other
// package of the module, its tests included (store's own export_test.go is
// not); a type counts as used where its constants are.
func TestPublicFace(t *testing.T) {
	gobin := "go" // the go command on PATH, as make test runs the tests
	short, err := exec.Command(gobin, "doc", "-short", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	all, err := exec.Command(gobin, "doc", "-all", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	decls := len(strings.Split(strings.TrimSpace(string(short)), "\n"))
	methods := 0
	for _, line := range strings.Split(string(all), "\n") {
		if strings.HasPrefix(line, "func (s *Store) ") && ast.IsExported(strings.TrimPrefix(line, "func (s *Store) ")[:1]) {
			methods++
		}
	}
	t.Logf("%d exported declarations + %d exported methods of *Store = %d", decls, methods, decls+methods)
	if decls < 10 || methods < 10 {
		t.Fatalf("counted %d declarations and %d methods: go doc did not answer as expected", decls, methods)
	}
	if decls+methods > maxPublicFace {
		t.Errorf("store's public face is %d, over %d: export only what a consumer uses", decls+methods, maxPublicFace)
	}

	exported := map[string]bool{} // name → used outside
	typeOf := map[string]string{} // constant or variable → its declared type
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || ast.IsExported(receiverType(d))) {
					exported[d.Name.Name] = false
				}
			case *ast.GenDecl:
				typed := "" // the type of a constant that repeats the one before
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							exported[s.Name.Name] = false
						}
					case *ast.ValueSpec:
						if id, ok := s.Type.(*ast.Ident); ok {
							typed = id.Name
						}
						for _, n := range s.Names {
							if n.IsExported() {
								exported[n.Name] = false
								typeOf[n.Name] = typed
							}
						}
					}
				}
			}
		}
	}
	root := filepath.Join("..")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "js" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == filepath.Join(root, "store") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if _, ok := exported[sel.Sel.Name]; ok {
					exported[sel.Sel.Name] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range typeOf { // a type is used where its values are
		if exported[name] && typ != "" {
			if _, ok := exported[typ]; ok {
				exported[typ] = true
			}
		}
	}
	for name, used := range exported {
		if !used {
			t.Errorf("store exports %s, which no other package uses", name)
		}
	}
}

// receiverType is the name of a method's receiver type.
func receiverType(d *ast.FuncDecl) string {
	t := d.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}
