package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestReadmeConfigurationTable: the README's table lists exactly the flags
// of "eventstore serve", with their variables and defaults.
func TestReadmeConfigurationTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `--([a-z-]+)` \\| `([A-Z_]+)` \\| (`[^`]*`)? ?\\|")
	documented := map[string][2]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]] = [2]string{m[2], strings.Trim(m[3], "`")}
		}
	}
	env := environment{getenv: func(string) string { return "" }}
	var names []string
	for _, f := range serveCommand(env).Flags {
		name := f.Names()[0]
		names = append(names, name)
		doc, ok := documented[name]
		if !ok {
			t.Errorf("flag --%s is not in the README's configuration table", name)
			continue
		}
		var envVar, def string
		switch f := f.(type) {
		case *cli.StringFlag:
			envVar, def = f.Sources.EnvKeys()[0], f.Value
		case *cli.StringSliceFlag:
			envVar, def = f.Sources.EnvKeys()[0], strings.Join(f.Value, ",")
		case *cli.DurationFlag:
			envVar, def = f.Sources.EnvKeys()[0], f.Value.String()
		case *cli.IntFlag:
			envVar, def = f.Sources.EnvKeys()[0], strconv.FormatInt(int64(f.Value), 10)
		default:
			t.Fatalf("flag --%s: unexpected type %T", name, f)
		}
		if doc[0] != envVar {
			t.Errorf("--%s: README says variable %s, the flag reads %s", name, doc[0], envVar)
		}
		if doc[1] != def {
			t.Errorf("--%s: README says default %q, the flag has %q", name, doc[1], def)
		}
	}
	for name := range documented {
		if !slices.Contains(names, name) {
			t.Errorf("README documents --%s, which serve does not have", name)
		}
	}
}

// TestReadmeCurlExamples runs the README's curl examples under "Using it"
// (create, append, list, scroll back, edit, delete, verify) as written,
// against a real server, with every HTTP error an error. Streams, which do
// not end, are left out.
func TestReadmeCurlExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipped: the README's examples need %s, which is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	section = section[strings.Index(section, "## Using it"):]
	section = section[:strings.Index(section, "### Following a room live")]
	var blocks []string
	for _, part := range strings.Split(section, "```sh\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) != 2 {
		t.Fatalf("want 2 sh blocks under Using it, found %d", len(blocks))
	}
	srv := startServer(t, nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	script := "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; echo; }\n" +
		strings.ReplaceAll(strings.Join(blocks, "\n"), "localhost:8080", host)
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"clean":true`) || !strings.Contains(string(out), `"t":"event.delete"`) ||
		!strings.Contains(string(out), `"hello, world!"`) {
		t.Errorf("the README's examples did not end as they say:\n%s", out)
	}
}
