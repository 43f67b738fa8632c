package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDatabaseDriver: an HTTP client has no use for the MongoDB driver,
// and neither the client nor what it imports (the root package, hashing)
// may pull it in.
func TestNoDatabaseDriver(t *testing.T) {
	gobin := "go" // the go command on PATH, as make test runs the tests
	for _, pkg := range []string{".", "..", "../hashing"} {
		out, err := exec.Command(gobin, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, dep := range deps {
			if strings.HasPrefix(dep, "go.mongodb.org/") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
