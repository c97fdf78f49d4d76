"""A storage decorator that times every call and counts failures, for ``/metrics``."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from origin.errors import ObjectMissing, StorageError
from origin.storage.base import ObjectInfo, ObjectStorage
from origin.web.metrics import Metrics


class MeasuredStorage:
    def __init__(self, inner: ObjectStorage, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def _done(self, operation: str, started: float, failed: bool) -> None:
        self.metrics.storage_latency.labels(operation).observe(time.perf_counter() - started)
        if failed:
            self.metrics.storage_errors.labels(operation).inc()

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        started, failed = time.perf_counter(), True
        try:
            await self.inner.put_file(key, path, content_type)
            failed = False
        finally:
            self._done("put", started, failed)

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncGenerator[bytes, None]:
        """Times the wait for the first byte (what a client feels); failures at any point count."""
        started, first = time.perf_counter(), True
        try:
            async for chunk in self.inner.stream(key, start=start, end=end, chunk_size=chunk_size):
                if first:
                    self._done("stream_first_byte", started, False)
                    first = False
                yield chunk
        except ObjectMissing:
            raise
        except StorageError:
            self.metrics.storage_errors.labels("stream").inc()
            raise

    async def read(self, key: str) -> bytes:
        started, failed = time.perf_counter(), True
        try:
            body = await self.inner.read(key)
            failed = False
            return body
        except ObjectMissing:
            failed = False
            raise
        finally:
            self._done("read", started, failed)

    async def delete(self, key: str) -> None:
        started, failed = time.perf_counter(), True
        try:
            await self.inner.delete(key)
            failed = False
        finally:
            self._done("delete", started, failed)

    async def size(self, key: str) -> int | None:
        started, failed = time.perf_counter(), True
        try:
            result = await self.inner.size(key)
            failed = False
            return result
        finally:
            self._done("size", started, failed)

    async def list_objects(self) -> AsyncIterator[ObjectInfo]:
        async for info in self.inner.list_objects():
            yield info

    async def check(self) -> None:
        await self.inner.check()
