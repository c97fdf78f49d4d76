"""``picora-origin gc``: reclaim what a crash between upload steps can leave behind.

Two leftovers are possible (see ``origin.images.service``): a quota reservation that was never
committed, and an object with no record (an original, or a variant whose image is gone: one
rendered while its image was being deleted, or whose delete was lost). Both are reclaimed only
once older than the grace period, so uploads in flight are never touched.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from auth.redis_types import RedisClient
from origin.images.deletion_queue import DeletionQueue
from origin.images.ids import parse_object_key
from origin.images.metadata import MetadataRepository
from origin.storage import ObjectStorage


@dataclass(slots=True)
class GcReport:
    reservations_released: int = 0
    bytes_released: int = 0
    orphans_deleted: int = 0
    queued_deletes_done: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def _release_stale_reservations(
    redis: RedisClient, metadata: MetadataRepository, cutoff: float, report: GcReport
) -> None:
    async for key in redis.scan_iter(match="pending:{*}", count=500):
        owner = key[len("pending:{") : -1]
        for image_id, (size, reserved_at) in (await metadata.pending_reservations(owner)).items():
            if reserved_at < cutoff and await metadata.release_quota(owner, image_id):
                report.reservations_released += 1
                report.bytes_released += size


async def _delete_orphans(
    metadata: MetadataRepository, storage: ObjectStorage, cutoff: float, report: GcReport
) -> None:
    async for info in storage.list_objects():
        if info.modified >= cutoff:
            continue
        parsed = parse_object_key(info.key)
        if parsed is None:
            continue
        image_id, width, ext = parsed
        owner = await metadata.owner_of(image_id)
        if owner is not None:
            record = await metadata.get_owned(owner, image_id)
            # A variant lives as long as its image; an original only under its record's extension.
            if record is not None and (width is not None or record.ext == ext):
                continue
            if image_id in await metadata.pending_reservations(owner):
                continue
        await storage.delete(info.key)
        report.orphans_deleted += 1


async def collect_garbage(
    redis: RedisClient, storage: ObjectStorage, *, grace_seconds: float, now: float | None = None
) -> GcReport:
    """Release abandoned reservations, delete orphan objects, retry queued deletes."""
    cutoff = (time.time() if now is None else now) - grace_seconds
    metadata = MetadataRepository(redis)
    report = GcReport()
    await _release_stale_reservations(redis, metadata, cutoff, report)
    await _delete_orphans(metadata, storage, cutoff, report)
    report.queued_deletes_done = await DeletionQueue(redis, storage).drain(batch=10_000)
    return report
