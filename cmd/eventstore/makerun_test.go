package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRun runs the README's "make run" as a newcomer would (with a
// temporary data directory and a free port): the server must answer
// /healthz within 30 s of the command starting, once the build is cached,
// and stop cleanly on Ctrl-C (SIGINT to the process group).
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	// The first build compiles FerretDB (about two minutes); do it before
	// the clock starts, as a newcomer's first "make run" would.
	build := exec.Command("go", "build", "-o", os.DevNull, "./cmd/eventstore")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command("make", "run", "DATA="+t.TempDir(), "LISTEN=127.0.0.1:0")
	cmd.Dir = "../.."
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addr := ""
	deadline := time.After(30 * time.Second)
	for addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("make run ended before listening")
			}
			var l struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
				addr = l.Addr
			}
		case <-deadline:
			t.Fatal("make run did not listen within 30 s")
		}
	}
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	t.Logf("healthz answered %v after make run started", time.Since(start).Round(time.Millisecond))

	// Ctrl-C: SIGINT to the whole foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	stopped := false
	timeout := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if strings.Contains(line, `"msg":"stopped"`) {
				stopped = true
			}
		case <-timeout:
			t.Fatal("the server did not stop within 30 s of Ctrl-C")
		}
	}
	_ = cmd.Wait()
	if !stopped {
		t.Error(`the server did not log "stopped" after Ctrl-C`)
	}
}
