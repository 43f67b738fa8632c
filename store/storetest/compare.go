package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Compare measures two operations in the same run, alternating blocks of
// them so that both see the same machine: ours (the operation under test)
// and limit (the raw database operation it is held against). Each block
// runs its operations on conc goroutines; settle, if not nil, runs after
// every block and counts as that block's time (background work a block
// left, which must not run during the next one). It reports the rate of each, the
// ratio ours/limit, and returns that ratio.
func Compare(b *testing.B, conc int, ours, limit func(i int) error, settle func() error) float64 {
	b.Helper()
	return CompareWith(b, conc, ours, settle, Limit{F: limit})
}

// Limit is a raw database operation an operation is held against. Name
// tells the reported metrics of a second and further limit apart.
type Limit struct {
	Name string
	F    func(i int) error
}

// CompareWith is Compare against several limits, each measured in the
// same alternating blocks: the first is reported as Compare reports it,
// each other one as <name>-ops/s and ratio-<name>. It returns the ratio to
// the first.
func CompareWith(b *testing.B, conc int, ours func(i int) error, settle func() error, limits ...Limit) float64 {
	b.Helper()
	const block = 64
	type run struct {
		f      func(int) error
		settle func() error
		t      time.Duration
	}
	runs := []*run{{f: ours, settle: settle}}
	for _, l := range limits {
		runs = append(runs, &run{f: l.F})
	}
	n := 0
	b.ResetTimer()
	for n < b.N {
		k := min(block, b.N-n)
		for _, r := range runs {
			start := time.Now()
			var wg sync.WaitGroup
			var failed atomic.Value
			for g := range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < k; i += conc {
						if err := r.f(n + i); err != nil {
							failed.Store(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if r.settle != nil {
				if err := r.settle(); err != nil {
					b.Fatal(err)
				}
			}
			r.t += time.Since(start)
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
		}
		n += k
	}
	b.StopTimer()
	rate := func(r *run) float64 { return float64(b.N) / r.t.Seconds() }
	b.ReportMetric(rate(runs[0]), "ops/s")
	for i, l := range limits {
		r := runs[i+1]
		if i == 0 {
			b.ReportMetric(rate(r), "limit-ops/s")
			b.ReportMetric(rate(runs[0])/rate(r), "ratio")
			continue
		}
		b.ReportMetric(rate(r), l.Name+"-ops/s")
		b.ReportMetric(rate(runs[0])/rate(r), "ratio-"+l.Name)
	}
	return rate(runs[0]) / rate(runs[1])
}
