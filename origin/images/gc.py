"""Reclaim what a crash between upload steps can leave behind: by schedule in every server, and
by hand with ``picora-origin gc``.

Two leftovers are possible (see ``origin.images.service``): a quota reservation that was never
committed, and an object with no record (an original, or a variant whose image is gone: one
rendered while its image was being deleted, or whose delete was lost). Both are reclaimed only
once older than the grace period, so uploads in flight are never touched. Queued storage deletes
are retried too.

The schedule: every instance tries a sweep every ``grace / 4`` seconds (the first one interval
after start, so a fleet restarting at once does not list storage all together); a Redis lease
(``lease:gc``, ``SET NX PX``) that lasts as long lets one instance sweep at a time, and expires by
itself if its holder dies. A leftover becomes reclaimable ``grace`` after its upload began and is
reclaimed by a sweep at most an interval (plus a dead holder's lease) later: within ``1.5 * grace``
plus the sweep's own duration, so quotas equal the stored bytes again within two grace periods with
no operator action.
Two sweeps overlapping (one outlasting its lease) would be harmless: every step is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import asdict, dataclass

from redis.exceptions import RedisError

from auth.redis_types import RedisClient
from origin.background import stop_if_cancelled
from origin.errors import StorageError
from origin.images import redis_keys as rk
from origin.images.deletion_queue import DeletionQueue
from origin.images.ids import parse_object_key
from origin.images.metadata import MetadataRepository
from origin.storage import ObjectStorage

log = logging.getLogger(__name__)

#: Sweeps per grace period: a leftover waits at most a quarter of it past its grace.
SWEEPS_PER_GRACE = 4

#: Let go of the lease only if it is still ours (it may have expired and been taken since).
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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


class GcSchedule:
    """The server's own gc: a sweep every ``grace / SWEEPS_PER_GRACE`` seconds, one instance at a time."""

    def __init__(self, redis: RedisClient, storage: ObjectStorage, grace_seconds: float) -> None:
        self.redis = redis
        self.storage = storage
        self.grace_seconds = grace_seconds
        self.interval = grace_seconds / SWEEPS_PER_GRACE
        self.token = uuid.uuid4().hex
        self._release = redis.register_script(_RELEASE_LEASE)

    async def sweep(self) -> GcReport | None:
        """One sweep if this instance gets the lease; None when another instance holds it."""
        lease_ms = max(1, int(self.interval * 1000))
        if not await self.redis.set(rk.GC_LEASE, self.token, nx=True, px=lease_ms):
            return None
        try:
            return await collect_garbage(self.redis, self.storage, grace_seconds=self.grace_seconds)
        finally:
            with contextlib.suppress(RedisError):  # else it expires by itself
                await self._release(keys=[rk.GC_LEASE], args=[self.token])

    async def run(self) -> None:
        """Background loop for the app's lifetime; a failed sweep is tried again next time."""
        while True:
            await asyncio.sleep(self.interval)
            stop_if_cancelled()
            try:
                report = await self.sweep()
            except (RedisError, StorageError) as exc:
                log.warning("scheduled gc failed, next try in %.0f s: %s", self.interval, exc)
            else:
                if report is not None and any(report.as_dict().values()):
                    log.info("scheduled gc: %s", report.as_dict())
            # Before the long sleep: a cancellation swallowed inside redis-py's timeouts during the
            # sweep would otherwise keep shutdown waiting for a whole interval.
            stop_if_cancelled()
