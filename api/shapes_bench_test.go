package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/eventstore-go/eventstore/api"
	"github.com/eventstore-go/eventstore/store"
	"github.com/eventstore-go/eventstore/store/storetest"
	"github.com/eventstore-go/eventstore/stream"
)

// chatMessage is a 120-byte chat message, the o of every append of
// BenchmarkHTTPShapes.
const chatMessage = `{"msg":"Still on for the release review at 3pm? Fixes are pushed","u":{"_id":"u1","username":"alice"},"groupable":false}`

// httpShape is one load of BenchmarkHTTPShapes, with Dendrite's figure for
// it (messages/s, single node on SQLite, measured on this kind of 2-core
// machine; the product brief and issue 17).
type httpShape struct {
	name            string
	writers, rooms  int
	dendriteLo, dHi float64
}

var httpShapes = []httpShape{
	{name: "writers=1/rooms=1", writers: 1, rooms: 1, dendriteLo: 75, dHi: 77},
	{name: "writers=8/rooms=1", writers: 8, rooms: 1, dendriteLo: 44, dHi: 45},
	{name: "writers=8/rooms=20", writers: 8, rooms: 20, dendriteLo: 66, dHi: 68},
}

// BenchmarkHTTPShapes: a chat service's three loads over HTTP, as a new
// user would try them: a fresh store for each, keep-alive clients posting
// 120-byte messages, append i going to room i mod rooms. It reports
// appends/s, latency (p50, p99) and the multiple of Dendrite's rate in the
// same shape (x-dendrite, against the upper end of its range; the aim is
// ≥ 10). Dendrite cannot run here: its figures are the published ones.
// These appends carry no clid; BenchmarkChatShapes (chat_shapes_bench_test.go)
// runs the chat service's shapes with a clid on every append, as a chat
// service sends them, beside Dendrite's figures measured with a txnId.
func BenchmarkHTTPShapes(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, shape := range httpShapes {
			b.Run(backend.Name+"/"+shape.name, func(b *testing.B) {
				var took []time.Duration
				var elapsed time.Duration
				for range b.N {
					t, e := httpShapeRun(b, backend, shape, 2000)
					took, elapsed = append(took, t...), elapsed+e
				}
				slices.Sort(took)
				rate := float64(len(took)) / elapsed.Seconds()
				b.ReportMetric(rate, "appends/s")
				b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(rate/shape.dHi, "x-dendrite")
			})
		}
	}
}

// httpShapeRun appends n messages in one shape on a fresh store and
// returns each append's latency and the time all took.
func httpShapeRun(b *testing.B, backend storetest.Backend, shape httpShape, n int) ([]time.Duration, time.Duration) {
	b.Helper()
	ctx := context.Background()
	st := storetest.NewStore(b, backend.Connect(b, storetest.Options{}), "a.example", store.Options{})
	srv := httptest.NewServer(api.New(api.Config{Store: st, Cursors: stream.NewCursors("a.example")}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: shape.writers}}
	defer client.CloseIdleConnections()
	for r := range shape.rooms {
		if _, err := st.CreateContext(ctx, "room", fmt.Sprintf("r%d", r), "", nil); err != nil {
			b.Fatal(err)
		}
	}
	body := []byte(`{"t":"msg","o":` + chatMessage + `}`)
	took := make([]time.Duration, n)
	b.ResetTimer()
	start := time.Now()
	err := storetest.Concurrently(shape.writers, n, func(i int) error {
		url := fmt.Sprintf("%s/api/v1/contexts/room/r%d/events", srv.URL, i%shape.rooms)
		t0 := time.Now()
		if err := postAppend(client, url, body); err != nil {
			return err
		}
		took[i] = time.Since(t0)
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	return took, elapsed
}
