"""Instrumentation and fault injection on top of a real storage backend, for the media path tests.

``InstrumentedStorage`` wraps whatever backend the app opened (filesystem or S3) and forwards every
call to it; it records what the media path asked for (whole reads, ranged streams, streams closed)
and can hold, fail, shorten or break reads on request. Nothing here replaces Redis or S3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from origin.app_keys import BODIES
from origin.errors import StorageError
from origin.storage import ObjectInfo, ObjectStorage
from tests.conftest import Origin


@dataclass(frozen=True, slots=True)
class StreamCall:
    key: str
    start: int
    end: int | None


class InstrumentedStorage:
    """A real backend with counters and switches; satisfies ``ObjectStorage``."""

    def __init__(self, inner: ObjectStorage) -> None:
        self.inner = inner
        self.reads: list[str] = []
        self.streams: list[StreamCall] = []
        self.streams_finished = 0  # generators whose ``finally`` ran, however they ended
        self.streams_exhausted = 0  # generators that yielded everything the backend had
        #: Whole reads wait for this event (set by default, so they do not wait).
        self.read_gate = asyncio.Event()
        self.read_gate.set()
        #: The next this-many whole reads fail with StorageError.
        self.failing_reads = 0
        #: The next whole read returns only this many bytes (a short read), once.
        self.short_read_bytes: int | None = None
        #: Streams raise StorageError after yielding this many chunks (None: never).
        self.break_streams_after_chunks: int | None = None
        #: Streams hold after yielding this many chunks until ``stream_gate`` is set.
        self.hold_streams_after_chunks: int | None = None
        self.stream_gate = asyncio.Event()
        #: Chunk size asked of the backend instead of the caller's (None: the caller's).
        self.chunk_size: int | None = None

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await self.inner.put_file(key, path, content_type)

    async def read(self, key: str) -> bytes:
        self.reads.append(key)
        await self.read_gate.wait()
        if self.failing_reads > 0:
            self.failing_reads -= 1
            raise StorageError("injected: storage unavailable")
        body = await self.inner.read(key)
        if self.short_read_bytes is not None:
            body, self.short_read_bytes = body[: self.short_read_bytes], None
        return body

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncGenerator[bytes, None]:
        self.streams.append(StreamCall(key, start, end))
        sent = 0
        try:
            inner = self.inner.stream(key, start=start, end=end, chunk_size=self.chunk_size or chunk_size)
            async with contextlib.aclosing(inner) as chunks:
                async for chunk in chunks:
                    if self.break_streams_after_chunks is not None and sent >= self.break_streams_after_chunks:
                        raise StorageError("injected: connection to storage reset mid-body")
                    if self.hold_streams_after_chunks is not None and sent >= self.hold_streams_after_chunks:
                        await self.stream_gate.wait()
                    yield chunk
                    sent += 1
            if self.break_streams_after_chunks is not None and sent >= self.break_streams_after_chunks:
                raise StorageError("injected: connection to storage reset mid-body")
            self.streams_exhausted += 1
        finally:
            self.streams_finished += 1

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def size(self, key: str) -> int | None:
        return await self.inner.size(key)

    async def list_objects(self) -> AsyncIterator[ObjectInfo]:
        async for info in self.inner.list_objects():
            yield info

    async def check(self) -> None:
        await self.inner.check()


def instrument(origin: Origin) -> InstrumentedStorage:
    """Put an ``InstrumentedStorage`` between the media path and the app's real backend."""
    wrapper = InstrumentedStorage(origin.app[BODIES].storage)
    origin.app[BODIES].storage = wrapper
    return wrapper
