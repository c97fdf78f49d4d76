"""Object bytes for the media path: the body cache, single-flight loads, ranged streams.

Objects up to the cache's per-object limit are loaded whole once (however many requests miss at
the same moment) and kept in the byte-bounded LRU; a load that comes back short is an error and
is never cached. Larger objects are streamed from storage, and only the bytes asked for.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from cache.body_cache import BodyCache
from cache.single_flight import CoherentFlights
from origin.errors import StorageError
from origin.images.intake.formats import BY_EXT
from origin.images.metadata import ImageRecord
from origin.storage import ObjectStorage
from origin.variants.widths import variant_object_keys

#: What a stream reads from storage at a time, and so how far an S3 response buffers ahead of it
#: (twice this: see origin/storage/s3_session.py). A stream holds about one socket read (~250 KB
#: under uvloop) plus a few of these: 64 KiB held ~10 MiB more than 32 KiB with 200 concurrent
#: streams (bench/ "Memory phase"); 16 KiB saved little more for more CPU.
STREAM_CHUNK_BYTES = 32 * 1024


class BodySource:
    def __init__(self, storage: ObjectStorage, cache: BodyCache) -> None:
        self.storage = storage
        self.cache = cache
        self.flights: CoherentFlights[bytes] = CoherentFlights()

    def cacheable(self, record: ImageRecord) -> bool:
        return self.cache.cacheable(record.size)

    def cached(self, record: ImageRecord) -> bytes | None:
        """The body if the cache has it: a hit needs no coroutine (the media path is measured in µs)."""
        return self.cache.get(record.object_key)

    async def load(self, record: ImageRecord) -> bytes:
        """The body from storage, one read however many requests miss at once."""
        key = record.object_key
        return await self.flights.run_and_keep(key, lambda: self._load(record), lambda body: self.cache.put(key, body))

    async def _load(self, record: ImageRecord) -> bytes:
        body = await self.storage.read(record.object_key)
        if len(body) != record.size:
            raise StorageError(f"{record.object_key}: got {len(body)} bytes, expected {record.size}")
        return body

    def stream(self, record: ImageRecord, start: int, end: int) -> AsyncGenerator[bytes, None]:
        return self.storage.stream(record.object_key, start=start, end=end, chunk_size=STREAM_CHUNK_BYTES)

    def keep(self, record: ImageRecord, body: bytes) -> None:
        """Cache a body obtained elsewhere (a variant just fetched or rendered)."""
        self.cache.put(record.object_key, body)

    def discard_id(self, image_id: str) -> None:
        """Drop an image's bodies, its variants' too, whatever their extension (a purge names ids,
        not object keys)."""
        for ext in BY_EXT:
            for key in (f"{image_id}.{ext}", *variant_object_keys(image_id, ext)):
                self.cache.discard(key)
                self.flights.invalidate(key)

    def clear(self) -> None:
        self.cache.clear()
        self.flights.invalidate_all()

    def stats(self) -> dict[str, int]:
        return {**self.cache.stats(), **self.flights.stats()}
