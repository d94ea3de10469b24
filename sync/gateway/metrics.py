"""Gateway metrics kept as plain counters on the hot path and rendered only when /metrics is read.

prometheus_client's labelled ``inc()`` costs a lock and a label lookup per call; here a request costs a
dict increment and a bisect, and a custom collector turns the counters into Prometheus families at
scrape time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from sync.web.metrics import Histogram, histogram_family  # the services' histogram: one set of buckets for both


class GatewayMetrics:
    """Every counter the gateway exports. Labels are tuples; values are ints or floats."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)  # service, method, status
        self.latency: defaultdict[str, Histogram] = defaultdict(Histogram)  # by service
        self.upstream_failures: defaultdict[tuple[str, str], int] = defaultdict(int)  # instance, reason
        self.breaker_transitions: defaultdict[tuple[str, str], int] = defaultdict(int)  # instance, state
        self.retries: defaultdict[str, int] = defaultdict(int)
        self.retry_budget_exhausted: defaultdict[str, int] = defaultdict(int)
        self.rate_limited: defaultdict[str, int] = defaultdict(int)  # by rule pattern
        self.rate_limit_backend_errors = 0
        self.auth_failures: defaultdict[str, int] = defaultdict(int)  # by reason
        self.health_checks: defaultdict[tuple[str, str], int] = defaultdict(int)  # instance, result
        self.gauges: Callable[[], Iterable[GaugeMetricFamily]] = lambda: ()

    def observe(self, service: str, method: str, status: int, seconds: float) -> None:
        self.requests[(service, method, status)] += 1
        self.latency[service].observe(seconds)

    def render(self) -> bytes:
        """Prometheus text exposition of everything above (called per scrape, not per request)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry)


class _Collector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        m = self.m
        fam = CounterMetricFamily("gateway_requests", "Requests answered by the gateway.",
                                  labels=["service", "method", "status"])
        for (service, method, status), n in list(m.requests.items()):
            fam.add_metric([service, method, str(status)], n)
        yield fam
        yield histogram_family("gateway_request_duration_seconds", "Time from request to response end.", ["service"],
                               (((service,), h) for service, h in list(m.latency.items())))
        yield _counter("gateway_upstream_failures", "Failed upstream attempts.", ["instance", "reason"],
                       m.upstream_failures.items())
        yield _counter("gateway_circuit_breaker_transitions", "Circuit breaker state changes.",
                       ["instance", "state"], m.breaker_transitions.items())
        yield _counter("gateway_retries", "Retried upstream attempts.", ["service"],
                       [((k,), v) for k, v in m.retries.items()])
        yield _counter("gateway_retry_budget_exhausted", "Retries refused by the retry budget.", ["service"],
                       [((k,), v) for k, v in m.retry_budget_exhausted.items()])
        yield _counter("gateway_rate_limited", "Requests refused with 429.", ["rule"],
                       [((k,), v) for k, v in m.rate_limited.items()])
        yield _counter("gateway_rate_limit_backend_errors", "Rate-limit checks where Redis failed.", [],
                       [((), m.rate_limit_backend_errors)])
        yield _counter("gateway_auth_failures", "Requests refused by JWT checks.", ["reason"],
                       [((k,), v) for k, v in m.auth_failures.items()])
        yield _counter("gateway_health_checks", "Active health checks.", ["instance", "result"],
                       m.health_checks.items())
        yield from m.gauges()


def _counter(name: str, doc: str, labels: list[str],
             items: Iterable[tuple[tuple[str, ...], float]]) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=labels)
    for key, value in list(items):
        fam.add_metric(list(key), value)
    return fam
