package host

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/oore-ci/oore-scm-gitlab/shared/scmerr"
)

// metrics are the host's Prometheus metrics, on a registry of its own (no
// global state), served at GET /metrics.
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
	webhooks       *prometheus.CounterVec
	pluginCalls    *prometheus.CounterVec
	pluginLatency  *prometheus.HistogramVec
}

func newMetrics(plugins Plugins) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oore_host_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		requestLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oore_host_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"route"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oore_host_webhook_deliveries_total",
			Help: "Webhook deliveries by provider and outcome (stored, duplicate, invalid_token, stale, invalid_payload, too_large, plugin_unavailable, error).",
		}, []string{"provider", "outcome"}),
		pluginCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oore_host_plugin_calls_total",
			Help: "Calls to provider plugins by provider, RPC method and gRPC code.",
		}, []string{"provider", "method", "code"}),
		pluginLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oore_host_plugin_call_duration_seconds",
			Help:    "Latency of calls to provider plugins, by provider and RPC method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"provider", "method"}),
	}
	m.reg.MustRegister(m.requests, m.requestLatency, m.webhooks, m.pluginCalls, m.pluginLatency,
		restartCollector{plugins: plugins},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observeRequest(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.requestLatency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observePluginCall(provider, method string, err error, d time.Duration) {
	code := codes.OK
	if err != nil {
		code = scmerr.CodeOf(err)
	}
	m.pluginCalls.WithLabelValues(provider, method, code.String()).Inc()
	m.pluginLatency.WithLabelValues(provider, method).Observe(d.Seconds())
}

func (m *metrics) webhook(provider, outcome string) {
	m.webhooks.WithLabelValues(provider, outcome).Inc()
}

// restartCollector reports each plugin's restart count at scrape time, from
// the launcher's own counter.
type restartCollector struct{ plugins Plugins }

var restartDesc = prometheus.NewDesc("oore_host_plugin_restarts_total",
	"Times the launcher restarted a provider plugin after its process exited.", []string{"provider"}, nil)

func (c restartCollector) Describe(ch chan<- *prometheus.Desc) { ch <- restartDesc }

func (c restartCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.plugins.Names() {
		p, ok := c.plugins.Get(name)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(restartDesc, prometheus.CounterValue, float64(p.Restarts()), name)
	}
}
