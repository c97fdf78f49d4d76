"""Prometheus metrics in a registry the app owns (never the process-global one).

With several worker processes (``PICORA_WORKERS`` > 1) each worker is started with
``PROMETHEUS_MULTIPROC_DIR`` set, so prometheus-client keeps values in shared files and any worker
answering ``/metrics`` reports the sum over all of them. Cache statistics are copied into gauges
every few seconds by a background task rather than counted on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from origin.background import stop_if_cancelled

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The error code of the answer, set by the error middleware for the metrics middleware to count.
ERROR_CODE = web.RequestKey("picora_error_code", str)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "picora_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "picora_http_request_duration_seconds",
            "Time to answer, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "picora_api_errors", "Error answers by code (quota and size refusals too)", ["code"], registry=r
        )
        self.uploads = Counter("picora_uploads", "Images stored, by format", ["format"], registry=r)
        self.upload_bytes = Counter("picora_upload_bytes", "Bytes stored by uploads, by format", ["format"], registry=r)
        self.storage_latency = Histogram(
            "picora_storage_operation_duration_seconds",
            "Object storage calls",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "picora_storage_errors", "Object storage calls that failed", ["operation"], registry=r
        )
        self.redis_errors = Counter("picora_redis_errors", "Requests failed because Redis was unreachable", registry=r)
        self.redis_latency = Histogram(
            "picora_redis_operation_duration_seconds", "Redis round trips of the main operations", ["operation"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.cdn_purges = Counter("picora_cdn_purges", "CDN purge attempts by outcome", ["outcome"], registry=r)
        self.cdn_purge_lag = Histogram(
            "picora_cdn_purge_lag_seconds", "From queueing a CDN purge to its delivery", registry=r,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
        )  # fmt: skip
        self.cdn_queue_depth = Gauge(
            "picora_cdn_purge_queue_depth", "CDN purges waiting", registry=r, multiprocess_mode="max"
        )
        self.cache = Gauge(
            "picora_cache",
            "Cache statistics per process, summed",
            ["cache", "stat"],
            registry=r,
            multiprocess_mode="livesum",
        )

    def exposition(self) -> bytes:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


@contextlib.asynccontextmanager
async def timed(histogram: Histogram, operation: str) -> AsyncIterator[None]:
    """Observe how long the block took (failures included) under ``operation``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(operation).observe(time.perf_counter() - started)


def metrics_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            code = request.get(ERROR_CODE)
            if code:
                metrics.errors.labels(code).inc()

    return measure


CacheStats = Callable[[], dict[tuple[str, str], float]]


def copy_cache_stats(metrics: Metrics, read: CacheStats) -> None:
    for (cache, stat), value in read().items():
        metrics.cache.labels(cache, stat).set(value)


async def publish_cache_stats(metrics: Metrics, read: CacheStats, every: float) -> None:
    """Copy in-process cache counters into gauges every few seconds, off the hot path."""
    while True:
        stop_if_cancelled()
        copy_cache_stats(metrics, read)
        await asyncio.sleep(every)


def mark_worker_gone() -> None:
    """Drop this process's live gauges from the shared files when it exits."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def metrics_endpoint(metrics: Metrics, read: CacheStats) -> web.Response:
    copy_cache_stats(metrics, read)  # this process's figures are fresh; other workers' within seconds
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
