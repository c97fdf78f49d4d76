"""Metadata for the media path: a TTL memo in front of Redis, with single-flight misses.

Each entry carries its response headers, built once, so a cache hit does no work but the
precondition and range checks. Changes made through this instance call ``invalidate`` at once.
Variants (``?w=N``) have entries of their own, built once their object is known and kept as long
as the original's record they were built from is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from redis.exceptions import RedisError

from cache.coherent_memo import CoherentMemo
from config import Settings
from origin.images.metadata import ImageRecord, MetadataRepository
from origin.media.headers import not_modified_headers, representation_headers
from origin.media.responses import header_block
from origin.variants.widths import VARIANT_WIDTHS
from origin.web.metrics import Metrics, timed


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """A record with its response headers, built once: ``headers`` as a mapping (to derive other
    entries from), and as checked header blocks for the wire (``origin.media.responses``)."""

    record: ImageRecord
    last_modified: int
    #: Every representation header of a 200, Content-Type included.
    headers: Mapping[str, str]
    #: The 200's and 206's fixed headers, all but Content-Type (a multipart 206 has its own):
    #: ``EntryResponse`` writes that one per response.
    block: bytes
    #: The headers a 304 repeats.
    not_modified_block: bytes
    #: This entry under a fixed grant (the protected and owner caching headers), built on first use.
    by_grant: dict[object, MediaEntry] = field(default_factory=dict, compare=False, repr=False)


def entry_with_headers(record: ImageRecord, headers: Mapping[str, str]) -> MediaEntry:
    fixed = {name: value for name, value in headers.items() if name != "Content-Type"}
    return MediaEntry(
        record,
        record.created_ms // 1000,
        MappingProxyType(dict(headers)),
        header_block(fixed),
        header_block(not_modified_headers(headers)),
    )


def media_entry(record: ImageRecord, settings: Settings) -> MediaEntry:
    return entry_with_headers(record, representation_headers(record, settings))


#: Variant entries kept per process (a few hundred bytes each).
MAX_VARIANT_ENTRIES = 50_000


class MediaCatalog:
    def __init__(self, metadata: MetadataRepository, settings: Settings, metrics: Metrics) -> None:
        self.metadata = metadata
        self.metrics = metrics
        self.settings = settings
        # Redis down: public images already known keep being served; private ones fail closed.
        self.entries: CoherentMemo[MediaEntry | None] = CoherentMemo(
            settings.metadata_ttl_seconds,
            self._load,
            errors=(RedisError,),
            stale_if_error=lambda entry: entry is not None and entry.record.is_public,
        )
        #: (id, width) -> (the original's record it was built from, the variant's entry).
        self.variants: dict[tuple[str, int], tuple[ImageRecord, MediaEntry]] = {}

    async def entry(self, image_id: str) -> MediaEntry | None:
        return await self.entries.get(image_id)

    async def _load(self, image_id: str) -> MediaEntry | None:
        async with timed(self.metrics.redis_latency, "metadata_lookup"):
            record = await self.metadata.get(image_id)
        return None if record is None else media_entry(record, self.settings)

    def variant(self, entry: MediaEntry, width: int) -> MediaEntry | None:
        """The entry of the image's variant for ``?w=width``, if known and built from this record."""
        kept = self.variants.get((entry.record.id, width))
        if kept is None or not (kept[0] is entry.record or kept[0] == entry.record):
            return None
        return kept[1]

    def keep_variant(self, entry: MediaEntry, width: int, variant: MediaEntry) -> None:
        if len(self.variants) >= MAX_VARIANT_ENTRIES:
            self.variants.clear()  # crude but free on the hot path: they are rebuilt from storage
        self.variants[(entry.record.id, width)] = (entry.record, variant)

    def forget_variants(self, image_id: str) -> None:
        for width in VARIANT_WIDTHS:
            self.variants.pop((image_id, width), None)

    def invalidate(self, image_id: str) -> None:
        self.entries.invalidate(image_id)
        self.forget_variants(image_id)

    def clear(self) -> None:
        self.entries.clear()
        self.variants.clear()

    def stats(self) -> dict[str, int]:
        return self.entries.stats()
