package stream

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the streams' Prometheus metrics.
type Metrics struct {
	open      *prometheus.GaugeVec
	sent      *prometheus.CounterVec
	resets    *prometheus.CounterVec
	overflows prometheus.Counter
	lag       prometheus.Histogram
	position  *prometheus.GaugeVec
}

// NewMetrics registers the metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_streams_open",
			Help: "Live streams open, by transport (sse, gateway).",
		}, []string{"transport"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_stream_events_sent_total",
			Help: "Events sent to live streams, backlog included, by transport.",
		}, []string{"transport"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_stream_resets_total",
			Help: "Streams ended with a reset because their subscriber fell behind, by transport.",
		}, []string{"transport"}),
		overflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventstore_stream_overflows_total",
			Help: "Subscriptions the hub cut off because their buffer was full.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventstore_stream_lag_seconds",
			Help:    "Time from a version being written to the hub handing its commit to the live streams.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		position: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_stream_log_position",
			Help: "The last commit log entry the hub has read, by context type.",
		}, []string{"ct"}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.sent, m.resets, m.overflows, m.lag, m.position)
	}
	return m
}
