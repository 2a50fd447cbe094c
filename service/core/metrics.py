"""Prometheus metrics, in a registry per app so that several apps (tests) never collide."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # core must not import the store layer at run time
    from sguardo.service.store.base import CollectionInfo

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sguardo_requests", "HTTP requests", ["endpoint", "method", "status"], registry=r
        )
        self.request_latency = Histogram(
            "sguardo_request_duration_seconds",
            "HTTP request latency",
            ["endpoint", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "sguardo_batch_size",
            "Rows per inference batch",
            ["tower"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "sguardo_queue_depth", "Items waiting for inference", ["tower"], registry=r
        )
        self.encoder_latency = Histogram(
            "sguardo_encoder_duration_seconds",
            "One inference call",
            ["tower"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_latency = Histogram(
            "sguardo_store_duration_seconds",
            "One vector store call",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "sguardo_rejected_requests", "Requests refused before work", ["reason"], registry=r
        )
        self.model_info = Gauge(
            "sguardo_model_info",
            "The loaded bundle and how it runs (value is always 1)",
            ["bundle_id", "model_id", "precision", "backend", "providers"],
            registry=r,
        )
        self.reloads = Counter(
            "sguardo_model_reloads",
            "Hot reloads of the model: switched to a new bundle, or failed to load it",
            ["outcome"],
            registry=r,
        )
        self.reload_pending = Gauge(
            "sguardo_model_reload_pending",
            "1 while the registry's current bundle or the alias point elsewhere than what is "
            "served (a rollout in progress, or one stuck)",
            registry=r,
        )
        # For alerts: saturation needs the bound, not only the depth.
        self.queue_capacity = Gauge(
            "sguardo_queue_capacity", "Items a queue holds before 503", ["tower"], registry=r
        )
        # Refreshed at each scrape of /metrics (see refresh_state_gauges in the health routes).
        self.ready = Gauge("sguardo_ready", "1 when /readyz answers ready, else 0", registry=r)
        self.collection_points = Gauge(
            "sguardo_collection_points",
            "Points in the collection behind the alias",
            ["alias", "collection"],
            registry=r,
        )
        self.collection_info = Gauge(
            "sguardo_collection_info",
            "The collection behind the alias and the bundle that built it (value is always 1)",
            ["alias", "collection", "bundle_id"],
            registry=r,
        )

    def record_collection(self, info: CollectionInfo | None) -> None:
        """The alias's current collection, or none: stale labels must not outlive an alias swap."""
        self.collection_points.clear()
        self.collection_info.clear()
        if info is not None:
            self.collection_points.labels(info.alias, info.collection).set(info.count)
            self.collection_info.labels(info.alias, info.collection, info.bundle_id).set(1)

    @contextmanager
    def time_store(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.store_latency.labels(operation).observe(time.perf_counter() - started)


class MetricsMiddleware:
    """Counts and times every request by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            labels = (endpoint, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.request_latency.labels(*labels).observe(time.perf_counter() - started)
