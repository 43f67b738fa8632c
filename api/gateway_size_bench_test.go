package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// sized is one store of BenchmarkGatewayFanOutAtSize, with its clients.
type sized struct {
	label   string
	g       *gatewayBench
	clients *benchClients
	took    time.Duration // from the append's call to the last client
	append  time.Duration // the append alone
}

// BenchmarkGatewayFanOutAtSize: one append fanned out to 1,000 clients of
// its room, in stores that hold 1,000, 100,000 and EVENTSTORE_BENCH_EVENTS
// (1,000,000) events already, measured in turns in the same run: the time
// until the last client has it at each size, and its ratio to the 1k
// store's; and the append alone, and the delivery after it (the hub reads
// commits by their log entry's _id, so delivery should not grow with the
// store).
func BenchmarkGatewayFanOutAtSize(b *testing.B) {
	sizes := storetest.BenchSizes(b)
	for _, backend := range storetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			// Built once: this level runs once, the measurement below as
			// often as the benchmark framework asks.
			var all []*sized
			for _, n := range sizes {
				g := newGatewayBenchOf(b, backend, n)
				all = append(all, &sized{label: storetest.SizeLabel(n), g: g, clients: startBenchClients(b, g.url, 1000, "fan")})
			}
			b.Run("clients=1000", func(b *testing.B) { fanOutInTurns(b, all) })
		})
	}
}

// fanOutInTurns appends to each store's room/fan in turns, the first one
// rotating, so that each size sees the same machine.
func fanOutInTurns(b *testing.B, all []*sized) {
	for _, s := range all {
		s.took, s.append = 0, 0
	}
	for i := range b.N {
		for j := range all {
			s := all[(i+j)%len(all)]
			start := time.Now()
			e, _, err := s.g.st.Append(context.Background(), "room", "fan", store.NewEvent{T: "msg"})
			if err != nil {
				b.Fatal(err)
			}
			s.append += time.Since(start)
			if line := s.clients.next(b, time.Minute); line != "all "+e.ID {
				b.Fatalf("%s: client process: %q, want all %s", s.label, line, e.ID)
			}
			s.took += time.Since(start)
		}
	}
	for _, s := range all {
		b.ReportMetric(float64(s.took.Microseconds())/1000/float64(b.N), "ms-to-last-"+s.label)
		b.ReportMetric(float64(s.took)/float64(all[0].took), "ratio-"+s.label+"/1k")
		deliver, deliver1k := s.took-s.append, all[0].took-all[0].append
		b.ReportMetric(float64(s.append.Microseconds())/1000/float64(b.N), "ms-append-"+s.label)
		b.ReportMetric(float64(deliver)/float64(deliver1k), "ratio-delivery-"+s.label+"/1k")
	}
}
