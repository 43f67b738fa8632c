package api_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/audit"
)

// TestOpenAPIMatchesRoutes: every route is in openapi.yaml and every path
// and method there is routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	router, ok := api.New(api.Config{Federation: http.NotFoundHandler()}).(chi.Routes)
	if !ok {
		t.Fatal("api.New does not return a chi router")
	}
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/metrics" && method != http.MethodGet {
			return nil // Handle registers every method; only GET is meant
		}
		if strings.HasPrefix(route, "/_federation/") {
			return nil // server to server, described in docs/federation.md
		}
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range routed {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for d := range documented {
		if !routed[d] {
			t.Errorf("openapi.yaml documents %s, which is not routed", d)
		}
	}
	if len(routed) < 10 {
		t.Errorf("only %d routes: %v", len(routed), slices.Sorted(func(yield func(string) bool) {
			for r := range routed {
				if !yield(r) {
					return
				}
			}
		}))
	}
}

// TestOpenAPIProblemKinds: the audit report's problem kinds in
// openapi.yaml are the audit's.
func TestOpenAPIProblemKinds(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Report struct {
					Properties struct {
						Problems struct {
							Items struct {
								Properties struct {
									Kind struct {
										Enum []string `yaml:"enum"`
									} `yaml:"kind"`
								} `yaml:"properties"`
							} `yaml:"items"`
						} `yaml:"problems"`
					} `yaml:"properties"`
				} `yaml:"Report"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	documented := doc.Components.Schemas.Report.Properties.Problems.Items.Properties.Kind.Enum
	if !slices.Equal(slices.Sorted(slices.Values(documented)), slices.Sorted(slices.Values(audit.ProblemKinds))) {
		t.Errorf("openapi.yaml lists problem kinds %v, the audit has %v", documented, audit.ProblemKinds)
	}
}

// TestOpenAPIProblemCodes: the Problem schema's codes are every Code
// constant declared in the root package and in internal/httperr.
func TestOpenAPIProblemCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `yaml:"enum"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"Problem"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, file := range []string{"../error.go", "../internal/httperr/problem.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok || len(spec.Values) != 1 {
				return true
			}
			typ := fmt.Sprint(spec.Type)
			if lit, ok := spec.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING && (typ == "Code" || typ == "&{eventstore Code}") {
				v, _ := strconv.Unquote(lit.Value)
				declared = append(declared, v)
			}
			return true
		})
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d codes: %v", len(declared), declared)
	}
	documented := doc.Components.Schemas.Problem.Properties.Code.Enum
	if !slices.Equal(slices.Sorted(slices.Values(documented)), slices.Sorted(slices.Values(declared))) {
		t.Errorf("openapi.yaml lists problem codes %v, the code declares %v", documented, declared)
	}
}
