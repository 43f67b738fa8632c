package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
)

// BenchmarkFsyncsPerAppend counts the fsyncs of the embedded store per
// append with a clid (as chat services send), with strace (target ≤ 1): one
// writer in one room, and 8 writers over 20 rooms. Tracing slows the run,
// so it reports counts, not rates. Without strace it is skipped, saying so.
func BenchmarkFsyncsPerAppend(b *testing.B) {
	const n = 400
	for _, shape := range []struct {
		name           string
		writers, rooms int
	}{{"writers=1/rooms=1", 1, 1}, {"writers=8/rooms=20", 8, 20}} {
		b.Run("embedded/"+shape.name, func(b *testing.B) {
			ctx := context.Background()
			conn := storetest.Backend{Name: "embedded"}.Connect(b, storetest.Options{})
			s := storetest.NewStore(b, conn, server, store.Options{})
			for r := range shape.rooms {
				if _, err := s.CreateContext(ctx, "room", fmt.Sprintf("f%d", r), "", nil); err != nil {
					b.Fatal(err)
				}
			}
			o := data(b, roomMessage)
			var fsyncs int64
			for round := range b.N {
				got, err := storetest.CountFsyncs(func() error {
					return storetest.Concurrently(shape.writers, n, func(i int) error {
						_, _, err := s.Append(ctx, "room", fmt.Sprintf("f%d", i%shape.rooms),
							store.NewEvent{T: "msg", O: o, Clid: fmt.Sprintf("c-%d-%d", round, i)})
						return err
					})
				})
				if err != nil {
					b.Skipf("skipped: %v", err)
				}
				fsyncs += got
			}
			b.ReportMetric(float64(fsyncs)/float64(n*b.N), "fsyncs/append")
		})
	}
}
