package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// gatewayMetrics are the gateway's: connections open, closes by code,
// packets by direction and op, and the answers to client dispatches.
type gatewayMetrics struct {
	open    prometheus.Gauge
	closed  *prometheus.CounterVec
	packets *prometheus.CounterVec
	out     [opError + 1]prometheus.Counter // packets out, by op
	answers *prometheus.CounterVec
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	m := &gatewayMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eventstore_gateway_connections",
			Help: "WebSocket gateway connections open.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_gateway_closed_total",
			Help: "Gateway connections the server closed, by the invalid code (slow_consumer, heartbeat_timeout, token_expired, unauthorized, …; going_away at shutdown).",
		}, []string{"code"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_gateway_packets_total",
			Help: "Gateway packets by direction (in, out) and op.",
		}, []string{"direction", "op"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventstore_gateway_answers_total",
			Help: "Answers to clients' dispatches: ack, or the error code.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.open, m.closed, m.packets, m.answers)
	for _, op := range []int{opHello, opReady, opInvalid, opDispatch, opHeartbeatAck, opAck, opError} { // what a server sends
		m.out[op] = m.packets.WithLabelValues("out", strconv.Itoa(op))
	}
	return m
}

// The counting calls; all of them do nothing without metrics.

func (m *Metrics) gatewayOpen(delta float64) {
	if m != nil {
		m.gateway.open.Add(delta)
	}
}

func (m *Metrics) gatewayClosed(code string) {
	if m != nil {
		m.gateway.closed.WithLabelValues(code).Inc()
	}
}

// gatewayPackets counts n packets of op (their counters are looked up
// once: a dispatch to a thousand connections counts a thousand times).
func (m *Metrics) gatewayPackets(direction string, op, n int) {
	if m == nil {
		return
	}
	g := m.gateway
	if direction == "out" && op >= 0 && op < len(g.out) && g.out[op] != nil {
		g.out[op].Add(float64(n))
		return
	}
	g.packets.WithLabelValues(direction, strconv.Itoa(op)).Add(float64(n))
}

func (m *Metrics) gatewayAnswer(result string) {
	if m != nil {
		m.gateway.answers.WithLabelValues(result).Inc()
	}
}
