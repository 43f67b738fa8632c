package federation

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventstore-go/eventstore"
)

// Metrics of federation, by peer: events sent and received by result,
// requests that failed by reason; and the problem answers of its API by
// code. Peers are configured, so the labels stay
// few.
type Metrics struct {
	sent     *prometheus.CounterVec
	received *prometheus.CounterVec
	failures *prometheus.CounterVec
	refusals *prometheus.CounterVec
	problems *prometheus.CounterVec

	outboxDepth  *prometheus.GaugeVec
	oldestAge    *prometheus.GaugeVec
	lastDelivery *prometheus.GaugeVec
	retries      *prometheus.CounterVec
	antiEntropy  *prometheus.CounterVec
}

// NewMetrics registers the federation metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_events_sent_total",
			Help: "Events pushed to peers, by peer and the peer's answer.",
		}, []string{"peer", "result"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_events_received_total",
			Help: "Events received from peers (pushed or fetched), by peer and result.",
		}, []string{"peer", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_request_failures_total",
			Help: "Outbound federation requests that failed, by peer and reason.",
		}, []string{"peer", "reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_requests_refused_total",
			Help: "Inbound federation requests refused, by origin and reason.",
		}, []string{"origin", "reason"}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_http_errors_total",
			Help: "Problem answers of the federation API, by code.",
		}, []string{"code"}),
		outboxDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_federation_outbox_versions",
			Help: "Head versions not yet delivered to a peer, over all shared contexts.",
		}, []string{"peer"}),
		oldestAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_federation_oldest_undelivered_seconds",
			Help: "Age of the oldest change not yet delivered to a peer.",
		}, []string{"peer"}),
		lastDelivery: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventstore_federation_last_delivery_timestamp_seconds",
			Help: "When a delivery to a peer last succeeded (Unix time).",
		}, []string{"peer"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_retries_total",
			Help: "Deliveries to a peer that failed and will be retried.",
		}, []string{"peer"}),
		antiEntropy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_federation_anti_entropy_fetches_total",
			Help: "Times comparing leaves with a peer found events missing here.",
		}, []string{"peer"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.received, m.failures, m.refusals, m.problems, m.outboxDepth, m.oldestAge, m.lastDelivery, m.retries, m.antiEntropy)
	}
	return m
}

func (m *Metrics) outbox(peer string, versions int64, age time.Duration) {
	m.outboxDepth.WithLabelValues(peer).Set(float64(versions))
	m.oldestAge.WithLabelValues(peer).Set(age.Seconds())
}
func (m *Metrics) delivered(peer string, at time.Time) {
	m.lastDelivery.WithLabelValues(peer).Set(float64(at.UnixNano()) / 1e9)
}
func (m *Metrics) retry(peer string)            { m.retries.WithLabelValues(peer).Inc() }
func (m *Metrics) antiEntropyFetch(peer string) { m.antiEntropy.WithLabelValues(peer).Inc() }

func (m *Metrics) sentEvents(peer, result string, n int) {
	m.sent.WithLabelValues(peer, result).Add(float64(n))
}
func (m *Metrics) receivedEvent(peer, result string) { m.received.WithLabelValues(peer, result).Inc() }
func (m *Metrics) failed(peer, reason string)        { m.failures.WithLabelValues(peer, reason).Inc() }
func (m *Metrics) refused(origin, reason string)     { m.refusals.WithLabelValues(origin, reason).Inc() }

// problem counts a problem answer of the federation API by its code; the
// error adapter calls it.
func (m *Metrics) problem(code eventstore.Code) { m.problems.WithLabelValues(string(code)).Inc() }
