package storetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CountFsyncs runs f while strace counts the fsync and fdatasync calls of
// this process (the embedded store's SQLite runs in it), and returns how
// many there were. It needs strace and the right to trace this process
// (root, or ptrace allowed); without them it returns an error saying so,
// and f does not run. Tracing slows every system call down: count on a
// short run of its own, not on a timed one.
//
// Written by hand: no Go library counts another part of the same process's
// system calls, and strace -c is the ordinary tool for it.
func CountFsyncs(f func() error) (int64, error) {
	path, err := exec.LookPath("strace")
	if err != nil {
		return 0, fmt.Errorf("counting fsyncs needs strace: %w", err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("eventstore-fsyncs-%d.txt", time.Now().UnixNano()))
	defer os.Remove(out)
	cmd := exec.Command(path, "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out, "-p", strconv.Itoa(os.Getpid()))
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting strace: %w", err)
	}
	// strace attaches to every thread before it counts; give it a moment.
	time.Sleep(500 * time.Millisecond)
	ferr := f()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if ferr != nil {
		return 0, ferr
	}
	file, err := os.Open(out)
	if err != nil {
		return 0, fmt.Errorf("strace wrote no summary (is tracing allowed?): %w", err)
	}
	defer file.Close()
	// The summary's rows: % time, seconds, usecs/call, calls, [errors,] syscall.
	var n int64
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		switch fields[len(fields)-1] {
		case "fsync", "fdatasync":
			calls, err := strconv.ParseInt(fields[3], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("strace summary row %q: %w", sc.Text(), err)
			}
			n += calls
		}
	}
	return n, sc.Err()
}
