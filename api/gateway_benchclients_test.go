package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/eventstore-go/eventstore/store/storetest"
)

// The gateway benchmarks run their clients in a second process (this test
// binary again, with benchClientsEnv set), so that the server's memory and
// CPU are measured apart from its clients' (which, on a real deployment,
// are on other machines; here they still share the cores).

const benchClientsEnv = "EVENTSTORE_GATEWAY_BENCH_CLIENTS" // "url n cid"

// benchClientsMain is the client process, when benchClientsEnv is set (ok):
// n identified clients subscribed to room/cid; it prints "ready" once all
// are, and "all <id>" whenever every client has had the dispatch of event
// id. It ends when its stdin closes, or after ten minutes.
func benchClientsMain() (exitCode int, ok bool) {
	arg := os.Getenv(benchClientsEnv)
	if arg == "" {
		return 0, false
	}
	var url, cid string
	var n int
	if _, err := fmt.Sscan(arg, &url, &n, &cid); err != nil {
		fmt.Fprintln(os.Stderr, "bench clients:", err)
		return 2, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	if err := runBenchClients(ctx, url, n, cid); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "bench clients:", err)
		return 1, true
	}
	return 0, true
}

func runBenchClients(ctx context.Context, url string, n int, cid string) error {
	var (
		mu    sync.Mutex
		have  = map[string]int{}
		out   = bufio.NewWriter(os.Stdout)
		wg    sync.WaitGroup
		ready sync.WaitGroup
	)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, line)
		out.Flush()
	}
	idKey := []byte(`"_id":"`)
	conns := make([]*websocket.Conn, 0, n)
	for i := range n {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return err
		}
		c.SetReadLimit(1 << 20)
		conns = append(conns, c)
		identify, _ := json.Marshal(map[string]any{"op": 1, "d": map[string]any{"client_id": "c" + strconv.Itoa(i),
			"subscribe": []map[string]string{{"ct": "room", "cid": cid}}}})
		if err := c.Write(ctx, websocket.MessageText, identify); err != nil {
			return err
		}
		ready.Add(1)
		wg.Go(func() {
			defer c.CloseNow()
			isReady := false
			defer func() {
				if !isReady {
					ready.Done()
				}
			}()
			for {
				_, raw, err := c.Read(ctx)
				if err != nil {
					return
				}
				switch {
				case bytes.HasPrefix(raw, []byte(`{"op":2,`)) && !isReady:
					isReady = true
					ready.Done()
				case bytes.HasPrefix(raw, []byte(`{"op":4,`)):
					// The id, without decoding the packet: the clients'
					// share of the machine is kept small.
					i := bytes.Index(raw, idKey)
					if i < 0 {
						continue
					}
					id := raw[i+len(idKey):]
					id = id[:bytes.IndexByte(id, '"')]
					mu.Lock()
					have[string(id)]++
					all := have[string(id)] == n
					if all {
						delete(have, string(id))
						fmt.Fprintln(out, "all", string(id))
						out.Flush()
					}
					mu.Unlock()
				}
			}
		})
	}
	ready.Wait()
	say("ready")
	// Heartbeats, well within the server's interval (30 s), so that a long
	// benchmark keeps its clients.
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for i, c := range conns {
				_ = c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"op":5,"d":{"client_id":"c%d"}}`, i))
			}
		}
	}()
	wg.Wait()
	return nil
}

// benchClients is a client process and its output.
type benchClients struct {
	cmd   *exec.Cmd
	stdin io.Closer
	lines chan string
}

// startBenchClients starts n clients of the gateway at url, subscribed to
// room/cid, in a second process and waits until every one is ready.
func startBenchClients(b *testing.B, url string, n int, cid string) *benchClients {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", benchClientsEnv, url, n, cid))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	bc := &benchClients{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		defer close(bc.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			bc.lines <- s.Text()
		}
	}()
	b.Cleanup(bc.stop)
	if line := bc.next(b, 2*time.Minute); line != "ready" {
		b.Fatalf("client process: %q, want ready", line)
	}
	return bc
}

// next is the client process's next line.
func (bc *benchClients) next(b *testing.B, within time.Duration) string {
	b.Helper()
	select {
	case line, ok := <-bc.lines:
		if !ok {
			b.Fatal("the client process ended")
		}
		return line
	case <-time.After(within):
		b.Fatalf("nothing from the client process within %s", within)
	}
	return ""
}

// cpu is the CPU time the client process has used so far.
func (bc *benchClients) cpu() time.Duration {
	return storetest.ProcessCPU(bc.cmd.Process.Pid)
}

// stop ends the client process.
func (bc *benchClients) stop() {
	_ = bc.stdin.Close()
	done := make(chan struct{})
	go func() { _ = bc.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = bc.cmd.Process.Kill()
		<-done
	}
}
