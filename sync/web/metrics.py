"""Prometheus metrics for every service built on ``create_service_app``: request counts and latency.

A request costs a dict increment and a bisect (the gateway's ``sync.gateway.metrics`` uses the same
:class:`Histogram`); the Prometheus families are built only when ``GET /metrics`` is read. Routes are
labelled by their template (``/skus/{sku}``), never by the raw path, and paths no route matched share the
label ``unmatched``, so a scan of random URLs cannot grow the label set.

An app that has its own ``GET /metrics`` (the analytics service's KPI summary, the seed's contract)
keeps it; its Prometheus metrics are then served at ``/metrics/prometheus``. Services add their own
families with ``ServiceMetrics.add_collector`` (the ML service: ``sync.ml.metrics``).
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.routing import Match

Scope = dict[str, Any]
Message = dict[str, Any]

#: Latency bucket bounds in seconds (the gateway's too, so one dashboard reads both).
BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METRICS_PATH = "/metrics"
FALLBACK_PATH = "/metrics/prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"


class Histogram:
    """Cumulative-at-scrape histogram: one list increment per observation."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        return out


def histogram_family(name: str, doc: str, labels: list[str],
                     items: Iterable[tuple[tuple[str, ...], Histogram]]) -> HistogramMetricFamily:
    fam = HistogramMetricFamily(name, doc, labels=labels)
    for key, hist in list(items):
        fam.add_metric(list(key), hist.buckets(), hist.total)
    return fam


def service_name(title: str) -> str:
    """``"Inventory service"`` -> ``"inventory"``, ``"Inventory API Gateway"`` -> ``"gateway"``: the
    ``service`` label of every family here."""
    words = [w for w in title.lower().split() if w != "service"]
    if "gateway" in words:
        return "gateway"
    return "-".join(words) or "service"


class ServiceMetrics(Collector):
    """The counters of one app (kept on ``app.state.service_metrics``)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.requests: defaultdict[tuple[str, str, str], int] = defaultdict(int)  # method, route, status
        self.latency: defaultdict[str, Histogram] = defaultdict(Histogram)  # by route
        self.in_progress = 0
        self._collectors: list[Collector] = []

    def add_collector(self, collector: Collector) -> None:
        """Another source of families rendered with these (called once, at start-up)."""
        self._collectors.append(collector)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        self.latency[route].observe(seconds)

    def collect(self) -> Iterator[Metric]:
        s = self.service
        fam = CounterMetricFamily("http_requests", "HTTP requests answered, by route template and status.",
                                  labels=["service", "method", "route", "status"])
        for (method, route, status), n in list(self.requests.items()):
            fam.add_metric([s, method, route, status], n)
        yield fam
        yield histogram_family("http_request_duration_seconds", "Time from request to the response's end.",
                               ["service", "route"], (((s, route), h) for route, h in list(self.latency.items())))
        gauge = GaugeMetricFamily("http_requests_in_progress", "Requests being answered now.", labels=["service"])
        gauge.add_metric([s], self.in_progress)
        yield gauge

    def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        ProcessCollector(registry=registry)
        for collector in self._collectors:
            registry.register(collector)
        return generate_latest(registry)


class PrometheusMetrics:
    """ASGI middleware: times every HTTP request and answers ``GET /metrics`` (or its fallback path)."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._path: str | None = None

    def _metrics_path(self, scope: Scope) -> str:
        if self._path is None:
            self._path = FALLBACK_PATH if _routed(scope.get("app"), METRICS_PATH) else METRICS_PATH
        return self._path

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD") and scope["path"] == self._metrics_path(scope):
            await self._answer(scope, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_progress += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.in_progress -= 1
            route = scope.get("route")
            template = getattr(route, "path", None) if route is not None else None
            metrics.observe(scope["method"], template or UNMATCHED, status, time.perf_counter() - started)

    async def _answer(self, scope: Scope, send: Any) -> None:
        body = self.metrics.render()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _routed(app: Any, path: str) -> bool:
    """Whether one of the app's own routes answers ``GET path`` (asked of the routes, so included
    routers count too)."""
    probe = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}, "headers": []}
    for route in getattr(app, "routes", ()):
        try:
            match, _ = route.matches(dict(probe))
        except Exception:  # noqa: S112 - a route that cannot judge a bare probe is not ours to worry about
            continue
        if match is Match.FULL:
            return True
    return False


def install_metrics(app: Any, title: str) -> ServiceMetrics:
    """Add the middleware to a FastAPI app and keep its counters on ``app.state.service_metrics``."""
    metrics = ServiceMetrics(service_name(title))
    app.state.service_metrics = metrics
    app.add_middleware(PrometheusMetrics, metrics=metrics)
    return metrics
