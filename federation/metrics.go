package federation

import "github.com/prometheus/client_golang/prometheus"

// Metrics of federation, by peer: events sent and received by result,
// requests that failed by reason. Peers are configured, so the labels stay
// few.
type Metrics struct {
	sent     *prometheus.CounterVec
	received *prometheus.CounterVec
	failures *prometheus.CounterVec
	refusals *prometheus.CounterVec
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
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.received, m.failures, m.refusals)
	}
	return m
}

func (m *Metrics) sentEvents(peer, result string, n int) {
	m.sent.WithLabelValues(peer, result).Add(float64(n))
}
func (m *Metrics) receivedEvent(peer, result string) { m.received.WithLabelValues(peer, result).Inc() }
func (m *Metrics) failed(peer, reason string)        { m.failures.WithLabelValues(peer, reason).Inc() }
func (m *Metrics) refused(origin, reason string)     { m.refusals.WithLabelValues(origin, reason).Inc() }
