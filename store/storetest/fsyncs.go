package storetest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fsyncs are the fsync and fdatasync calls counted while a function ran.
type Fsyncs struct {
	// WAL is those of SQLite's write-ahead log (a file named *-wal): one
	// per committed transaction.
	WAL int64
	// Other is those of any other file: the database file, synced when a
	// checkpoint copies the log into it, and directories.
	Other int64
}

// Add adds g's counts to f's.
func (f *Fsyncs) Add(g Fsyncs) { f.WAL, f.Other = f.WAL+g.WAL, f.Other+g.Other }

// Total is every fsync counted.
func (f Fsyncs) Total() int64 { return f.WAL + f.Other }

// fsyncCall matches the start of a traced call in strace -y's output
// ("fdatasync(7</dir/db.sqlite-wal>" …), not its "resumed" half.
var fsyncCall = regexp.MustCompile(`\b(?:fsync|fdatasync)\(\d+<([^>]*)>`)

// CountFsyncs runs f while strace traces the fsync and fdatasync calls of
// this process (the embedded store's SQLite runs in it), and returns how
// many there were, by file. It needs strace and the right to trace this
// process (root, or ptrace allowed); without them it returns an error
// saying so, and f does not run. Tracing slows every system call down:
// count on a short run of its own, not on a timed one.
//
// Written by hand: no Go library counts another part of the same process's
// system calls, and strace is the ordinary tool for it.
func CountFsyncs(f func() error) (Fsyncs, error) {
	path, err := exec.LookPath("strace")
	if err != nil {
		return Fsyncs{}, fmt.Errorf("counting fsyncs needs strace: %w", err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("eventstore-fsyncs-%d.txt", time.Now().UnixNano()))
	defer os.Remove(out)
	cmd := exec.Command(path, "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", out, "-p", strconv.Itoa(os.Getpid()))
	if err := cmd.Start(); err != nil {
		return Fsyncs{}, fmt.Errorf("starting strace: %w", err)
	}
	// strace attaches to every thread before it counts; give it a moment.
	time.Sleep(500 * time.Millisecond)
	ferr := f()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if ferr != nil {
		return Fsyncs{}, ferr
	}
	file, err := os.Open(out)
	if err != nil {
		return Fsyncs{}, fmt.Errorf("strace wrote no trace (is tracing allowed?): %w", err)
	}
	defer file.Close()
	var n Fsyncs
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		m := fsyncCall.FindStringSubmatch(sc.Text())
		switch {
		case m == nil:
		case strings.HasSuffix(m[1], "-wal"):
			n.WAL++
		default:
			n.Other++
		}
	}
	return n, sc.Err()
}
