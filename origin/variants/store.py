"""Variant objects: found in storage beside the original, or rendered once and stored there.

An image's variant at width N is the object ``<id>.wN.webp``; or, when the original is no wider
than N and no WebP of it is smaller, ``<id>.wN.<ext>``: a copy of the original, served with its own
type. Originals no wider than N give the same variant for every width from their own up, so those
widths share one object: the smallest allowed width at least the original's (``effective_width``).

A missing variant is rendered once: one load per key in a process (single-flight), and one
process across all through a Redis lease (``variant-lease:{<id>}:<N>``, ``LEASE_SECONDS`` at
most). The holder looks in storage once more, renders in the bounded pool, stores, releases; the
others poll storage until the object appears, or the lease is gone without it (a holder that
died), and then try for the lease themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from auth.redis_types import RedisClient
from cache.single_flight import SingleFlight
from origin.errors import ObjectMissing, ServiceUnavailable
from origin.images import redis_keys as rk
from origin.images.ids import variant_key
from origin.images.metadata import ImageRecord
from origin.storage import ObjectStorage
from origin.variants.render import RENDERER_VERSION, RenderRefused, render_variant
from origin.variants.widths import EAGER_WIDTHS, VARIANT_WIDTHS
from origin.web.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

WEBP_TYPE = "image/webp"
#: A render takes well under a second; a holder silent for this long has died.
LEASE_SECONDS = 15
#: How long a request waits for another process's render before giving up with a 503.
WAIT_SECONDS = LEASE_SECONDS + 5
POLL_SECONDS = 0.05

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant's stored object: its key, the type of what it holds, and its bytes."""

    key: str
    content_type: str
    data: bytes


def effective_width(record: ImageRecord, width: int) -> int:
    """The width whose object answers ``?w=width``: originals no wider than ``width`` share the
    object of the smallest allowed width at least their own (the results would be identical)."""
    if record.width is not None and record.width <= width:
        return next(allowed for allowed in VARIANT_WIDTHS if allowed >= record.width)
    return width


def variant_etag(record: ImageRecord, width: int) -> str:
    """Strong, and the same on every instance and after restarts: from the original's content
    hash, the width and the renderer's version (what the stored bytes are a function of)."""
    return f'"{record.etag.strip(chr(34))}.w{effective_width(record, width)}.r{RENDERER_VERSION}"'


def variant_record(record: ImageRecord, variant: Variant, width: int) -> ImageRecord:
    """The record the media path serves a variant with: the original's, with the variant's object
    key (``ext`` carries ``wN.<ext>``), type, size and ETag; owner, visibility, upload time and so
    the purge tags and Last-Modified stay the original's."""
    return replace(
        record,
        ext=variant.key.split(".", 1)[1],
        content_type=variant.content_type,
        size=len(variant.data),
        etag=variant_etag(record, width),
    )


def _candidates(record: ImageRecord, width: int) -> tuple[tuple[str, str], ...]:
    """``(key, content type)`` of the objects that may hold the variant, likeliest first."""
    webp = (variant_key(record.id, width, "webp"), WEBP_TYPE)
    if (record.width is not None and record.width > width) or record.ext == "webp":
        return (webp,)
    return webp, (variant_key(record.id, width, record.ext), record.content_type)


class RenderPool:
    """Renders run in their own threads (never the default executor, which storage I/O uses),
    ``threads`` at once; ``backlog`` more may wait, and past that a request gets 503 at once: a
    storm of cold variants cannot queue unbounded memory or take every core."""

    def __init__(self, threads: int, backlog: int) -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="variant-render")
        self.slots = asyncio.Semaphore(threads)
        self.limit = threads + backlog
        self.admitted = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.admitted >= self.limit:
            raise ServiceUnavailable("too many variants are being rendered; retry shortly", retry_after=1)
        self.admitted += 1
        try:
            async with self.slots:
                yield
        finally:
            self.admitted -= 1

    async def run(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class VariantStore:
    def __init__(
        self,
        storage: ObjectStorage,
        redis: RedisClient,
        pool: RenderPool,
        metrics: Metrics,
        *,
        spool_dir: Path,
        max_pixels: int,
    ) -> None:
        self.storage = storage
        self.redis = redis
        self.pool = pool
        self.metrics = metrics
        self.spool_dir = spool_dir
        self.max_pixels = max_pixels
        self.flights: SingleFlight[Variant] = SingleFlight()
        self._release = redis.register_script(_RELEASE)
        self._background: set[asyncio.Task[None]] = set()
        #: Plain counters, copied into the cache gauges off the hot path (see ``stats``).
        self.memory_hits = 0
        self.storage_hits = 0
        self.lease_waits = 0

    async def fetch(self, record: ImageRecord, width: int) -> Variant:
        """The variant of ``record`` for ``?w=width``: from storage, else rendered (once)."""
        effective = effective_width(record, width)
        key = variant_key(record.id, effective, "webp")
        return await self.flights.run(key, lambda: self._fetch(record, effective))

    async def _fetch(self, record: ImageRecord, width: int) -> Variant:
        stored = await self._stored(record, width)
        if stored is not None:
            self.storage_hits += 1
            return stored
        lease, token = rk.variant_lease(record.id, width), uuid.uuid4().hex
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if await self.redis.set(lease, token, nx=True, ex=LEASE_SECONDS):
                try:
                    return await self._stored(record, width) or await self._render(record, width)
                finally:
                    await self._release(keys=[lease], args=[token])
            self.lease_waits += 1
            while await self.redis.exists(lease):
                if time.monotonic() > deadline:
                    raise ServiceUnavailable("the variant is still being rendered; retry shortly", retry_after=1)
                await asyncio.sleep(POLL_SECONDS)
                stored = await self._stored(record, width)
                if stored is not None:
                    return stored
            stored = await self._stored(record, width)
            if stored is not None:
                return stored

    async def _stored(self, record: ImageRecord, width: int) -> Variant | None:
        for key, content_type in _candidates(record, width):
            try:
                return Variant(key, content_type, await self.storage.read(key))
            except ObjectMissing:
                continue
        return None

    async def _render(self, record: ImageRecord, width: int) -> Variant:
        async with self.pool.slot():
            original = await self.storage.read(record.object_key)
            started = time.perf_counter()
            try:
                data = await self.pool.run(lambda: render_variant(original, width, max_pixels=self.max_pixels))
            except RenderRefused as exc:
                self.metrics.variant_render_failures.labels("refused").inc()
                log.warning("cannot render %s at w=%d: %s", record.object_key, width, exc)
                raise ServiceUnavailable(
                    "this image cannot be resized; the original is at its URL without ?w=", code="RENDER_FAILED"
                ) from exc
            self.metrics.variant_render_seconds.labels(str(width)).observe(time.perf_counter() - started)
        self.metrics.variant_renders.labels(str(width)).inc()
        if data is None:  # the original is small and no WebP beats it: store a copy to serve
            variant = Variant(variant_key(record.id, width, record.ext), record.content_type, original)
        else:
            variant = Variant(variant_key(record.id, width, "webp"), WEBP_TYPE, data)
        await self._put(variant)
        log.info("variant rendered id=%s w=%d key=%s size=%d", record.id, width, variant.key, len(variant.data))
        return variant

    async def _put(self, variant: Variant) -> None:
        """Object storage takes files: the bytes go through a spool file written off the loop."""
        path = await asyncio.to_thread(_spool, self.spool_dir, variant.data)
        try:
            await self.storage.put_file(variant.key, path, variant.content_type)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    def render_soon(self, record: ImageRecord) -> None:
        """Render the widths a library page uses in the background, right after an upload."""
        if record.ext == "svg":
            return
        task = asyncio.create_task(self._prerender(record), name=f"prerender-{record.id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prerender(self, record: ImageRecord) -> None:
        for width in EAGER_WIDTHS:
            try:
                await self.fetch(record, width)
            except Exception as exc:  # a busy pool or a failed render: the first request renders
                log.info("background render of %s at w=%d skipped: %s", record.id, width, exc)

    async def idle(self) -> None:
        """Wait for the background renders started so far (tests that count I/O need quiet)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.pool.close()

    def stats(self) -> dict[str, int]:
        return {
            "memory_hits": self.memory_hits,
            "storage_hits": self.storage_hits,
            "lease_waits": self.lease_waits,
            **self.flights.stats(),
        }


def _spool(directory: Path, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="variant-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(name)
