"""Prometheus metrics in a registry the app owns (never the process-global one).

With several worker processes (``PICORA_WORKERS`` > 1) each worker is started with
``PROMETHEUS_MULTIPROC_DIR`` set, so prometheus-client keeps values in shared files and any worker
answering ``/metrics`` reports the sum over all of them. Cache statistics are copied into gauges
every few seconds by a background task rather than counted on the hot path.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractResource
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
_METHODS = frozenset(hdrs.METH_ALL)
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
        self.variant_renders = Counter(
            "picora_variant_renders", "Variants rendered (then stored), by width", ["width"], registry=r
        )
        self.variant_render_seconds = Histogram(
            "picora_variant_render_seconds", "Time to render one variant in its thread, decoding included",
            ["width"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.variant_render_failures = Counter(
            "picora_variant_render_failures", "Variants that could not be rendered, by reason", ["reason"], registry=r
        )
        self.cache = Gauge(
            "picora_cache",
            "Cache statistics per process, summed",
            ["cache", "stat"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.tally = RequestTally(self.requests, self.latency, immediate=bool(os.environ.get(MULTIPROC_ENV)))

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


class RequestTally:
    """Requests are counted in plain dicts and folded into the Prometheus metrics when those are read.

    Counting through prometheus-client costs three lock round trips and a label lookup per
    request, a tenth of a cache hit. Here a request costs two dict updates and a bisect; no list
    of notes is kept to be walked later (that walk cost ~5k instructions per request, callgrind).
    The counts are folded in before every exposition and every few seconds; they take memory per
    route, method and status, not per request. With several workers the metrics live in shared
    files that other processes read, so there every request is folded in at once (``immediate``).
    """

    def __init__(self, requests: Counter, latency: Histogram, *, immediate: bool) -> None:
        self._requests = requests
        self._latency = latency
        self._immediate = immediate
        self._counts: dict[tuple[AbstractResource | None, str, int], int] = {}
        #: Per resource: one count per latency bucket (the last one is +Inf), then the sum of the durations.
        self._timings: dict[AbstractResource | None, list[float]] = {}

    def add(self, resource: AbstractResource | None, method: str, status: int, seconds: float) -> None:
        counts, key = self._counts, (resource, method, status)
        counts[key] = counts.get(key, 0) + 1
        timing = self._timings.get(resource)
        if timing is None:
            timing = self._timings[resource] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        timing[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        timing[-1] += seconds
        if self._immediate:
            self.fold()

    def fold(self) -> None:
        counts, self._counts = self._counts, {}
        timings, self._timings = self._timings, {}
        for (resource, method, status), count in counts.items():
            # Methods are client-chosen tokens: unknown ones share a label, so clients cannot grow the series.
            label = method if method in _METHODS else "OTHER"
            self._requests.labels(_route(resource), label, str(status)).inc(count)
        for resource, timing in timings.items():
            _add_observations(self._latency.labels(_route(resource)), timing[:-1], timing[-1])


def _route(resource: AbstractResource | None) -> str:
    return resource.canonical if resource is not None else "unmatched"


def _add_observations(child: Histogram, bucket_counts: list[float], total: float) -> None:
    """``observe()`` many times at once. prometheus-client has no public bulk call, so this uses the
    child's value cells (``_buckets``: one per bound, not cumulative; ``_sum``), as ``observe`` does."""
    cells: list[Any] = child._buckets
    for cell, count in zip(cells, bucket_counts, strict=True):
        if count:
            cell.inc(count)
    child._sum.inc(total)


CacheStats = Callable[[], dict[tuple[str, str], float]]


def refresh(metrics: Metrics, read: CacheStats) -> None:
    """Bring what is counted outside prometheus-client (request tally, cache counters) up to date."""
    metrics.tally.fold()
    for (cache, stat), value in read().items():
        metrics.cache.labels(cache, stat).set(value)


async def publish_cache_stats(metrics: Metrics, read: CacheStats, every: float) -> None:
    """Copy in-process cache counters into gauges every few seconds, off the hot path."""
    while True:
        stop_if_cancelled()
        refresh(metrics, read)
        await asyncio.sleep(every)


def mark_worker_gone() -> None:
    """Drop this process's live gauges from the shared files when it exits."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def metrics_endpoint(metrics: Metrics, read: CacheStats) -> web.Response:
    refresh(metrics, read)  # this process's figures are fresh; other workers' within seconds
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
