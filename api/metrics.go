package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventstore-go/eventstore"
	"github.com/eventstore-go/eventstore/audit"
)

// Metrics are the server's Prometheus metrics, on a registry the caller
// owns. Labels stay few: route patterns, not paths; context and event types
// beyond the first maxLabelValues seen count as "other".
type Metrics struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	stored    *prometheus.CounterVec
	storeOps  *prometheus.HistogramVec
	errors    *prometheus.CounterVec

	auditLastRun  prometheus.Gauge
	auditVerified prometheus.Counter
	auditProblems *prometheus.GaugeVec

	gateway *gatewayMetrics

	cts, types labelGuard
}

// NewMetrics registers the metrics, with Go and process collectors, on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventstore_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"route", "method"}),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_events_stored_total",
			Help: "Events stored, by context type, event type and origin (local: appended here; remote: received).",
		}, []string{"ct", "t", "origin"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventstore_store_operation_duration_seconds",
			Help:    "Store operation latency by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"op", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_http_errors_total",
			Help: "Problem answers by code.",
		}, []string{"code"}),
		auditLastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eventstore_audit_last_run_timestamp_seconds",
			Help: "When the last periodic audit finished (Unix time).",
		}),
		auditVerified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventstore_audit_events_verified_total",
			Help: "Events the periodic audit has verified.",
		}),
		auditProblems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_audit_problems",
			Help: "Problems the last periodic audit found, by kind.",
		}, []string{"kind"}),
		cts:   labelGuard{max: maxLabelValues},
		types: labelGuard{max: maxLabelValues},
	}
	reg.MustRegister(m.requests, m.durations, m.stored, m.storeOps, m.errors, m.auditLastRun, m.auditVerified, m.auditProblems,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.gateway = newGatewayMetrics(reg)
	return m
}

// ObserveStore records a store operation; give it to store.Options.Observe.
func (m *Metrics) ObserveStore(op string, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = string(eventstore.ErrorCode(err))
	}
	m.storeOps.WithLabelValues(op, result).Observe(d.Seconds())
}

// countError counts a problem answer by its code; the error adapter calls it.
func (m *Metrics) countError(code eventstore.Code) { m.errors.WithLabelValues(string(code)).Inc() }

// CountStored counts stored events; call it from a follower of the store (store.Store.Follow).
// server is this server's name, which tells local events from remote ones.
func (m *Metrics) CountStored(server string, events []*eventstore.Event) {
	for _, e := range events {
		origin := "remote"
		if e.Src == server {
			origin = "local"
		}
		m.stored.WithLabelValues(m.cts.value(e.Ct), m.types.value(e.T), origin).Inc()
	}
}

// ObserveAudit records the result of an audit run.
func (m *Metrics) ObserveAudit(rep *audit.Report, finished time.Time) {
	m.auditLastRun.Set(float64(finished.UnixNano()) / 1e9)
	m.auditVerified.Add(float64(rep.Events))
	m.auditProblems.Reset()
	for _, kind := range audit.ProblemKinds {
		m.auditProblems.WithLabelValues(kind).Set(float64(rep.ByKind[kind]))
	}
}

// instrument counts and times requests by the route pattern chi matched.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
		m.durations.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// maxLabelValues bounds the distinct values of a label fed by clients.
const maxLabelValues = 100

// labelGuard passes the first max distinct values and maps later ones to
// "other", so that clients cannot grow the metrics without bound.
type labelGuard struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func (g *labelGuard) value(v string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen[v] {
		return v
	}
	if len(g.seen) >= g.max {
		return "other"
	}
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	g.seen[v] = true
	return v
}
