package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

func TestMain(m *testing.M) {
	if code, ok := benchClientsMain(); ok { // the gateway benchmarks' client process
		os.Exit(code)
	}
	storetest.Main(m)
}

const benchMessage = `{"msg":"Are we still on for the release review at 3pm? I pushed the last fixes","u":{"_id":"u1","username":"alice","name":"Alice Liddell"},"mentions":[],"groupable":false}`

// BenchmarkHTTPAppend: appends over HTTP (a real listener, keep-alive
// connections) at concurrency 1 and 8, beside appends straight to the store
// in the same run; the ratio is what the HTTP layer keeps (target ≥ 0.7).
func BenchmarkHTTPAppend(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/conc=%d", backend.Name, conc), func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				conn := backend.Connect(b, storetest.Options{})
				reg := prometheus.NewRegistry()
				metrics := api.NewMetrics(reg)
				st := storetest.NewStore(b, conn, "a.example", store.Options{Observe: metrics.ObserveStore})
				st.Follow(func(_, _ string, events []*eventstore.Event) { metrics.CountStored("a.example", events) })
				srv := httptest.NewServer(api.New(api.Config{Store: st, Cursors: stream.NewCursors("a.example"), Metrics: metrics, Gatherer: reg}))
				defer srv.Close()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
				for _, cid := range []string{"http", "direct"} {
					if _, err := st.CreateContext(ctx, "room", cid, "", nil); err != nil {
						b.Fatal(err)
					}
				}
				body := []byte(`{"t":"msg","o":` + benchMessage + `}`)
				o, err := eventstore.ParseData([]byte(benchMessage))
				if err != nil {
					b.Fatal(err)
				}
				url := srv.URL + "/api/v1/contexts/room/http/events"
				storetest.Compare(b, conc, func(int) error {
					res, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						return err
					}
					defer res.Body.Close()
					_, _ = io.Copy(io.Discard, res.Body)
					if res.StatusCode != http.StatusCreated {
						return fmt.Errorf("status %d", res.StatusCode)
					}
					return nil
				}, func(int) error {
					_, _, err := st.Append(ctx, "room", "direct", store.NewEvent{T: "msg", O: o})
					return err
				}, func() error { return st.Flush(ctx) })
			})
		}
	}
}
