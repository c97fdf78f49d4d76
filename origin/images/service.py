"""The write side of images: upload, change and delete with the ordering that survives crashes.

Upload: reserve an id (forever), reserve quota (pending), write the object, commit the record.
Any failure before the commit gives the quota back and removes the object; a crash in between
leaves a pending reservation and maybe an orphan object, both reclaimed by ``picora-origin gc``.
Delete: drop the record and its quota in one script, then delete the object (queued if storage
fails) and its variants (left to gc if storage fails). Variants are never counted in the quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from redis.exceptions import RedisError

from auth.principal import Principal
from config import Settings
from origin.errors import NotFound, ServiceUnavailable, StorageError
from origin.images.deletion_queue import DeletionQueue
from origin.images.intake.prepare import PreparedImage
from origin.images.metadata import ImageRecord, MetadataRepository
from origin.storage import ObjectStorage
from origin.variants.widths import variant_object_keys
from origin.web.metrics import Metrics, timed

log = logging.getLogger(__name__)

#: Called with (before, after) whenever an image changes, after None when it was deleted.
ChangeListener = Callable[[ImageRecord, ImageRecord | None], Awaitable[None]]


class ImageService:
    """Orchestrates metadata, quota and storage for one app instance."""

    def __init__(
        self,
        settings: Settings,
        metadata: MetadataRepository,
        storage: ObjectStorage,
        deletions: DeletionQueue,
        metrics: Metrics,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self.metadata = metadata
        self.storage = storage
        self.deletions = deletions
        self.listeners: list[ChangeListener] = []

    async def _changed(self, before: ImageRecord, after: ImageRecord | None) -> None:
        for listener in self.listeners:
            await listener(before, after)

    async def create(
        self,
        principal: Principal,
        prepared: PreparedImage,
        *,
        filename: str,
        is_public: bool,
        tags: Sequence[str],
    ) -> ImageRecord:
        owner = principal.user_id
        plan = self.settings.plan(principal.plan)
        image_id = await self.metadata.reserve_id(owner)
        async with timed(self.metrics.redis_latency, "reserve_quota"):
            await self.metadata.reserve_quota(owner, image_id, prepared.size, plan.storage_bytes)
        record = ImageRecord(
            id=image_id,
            owner=owner,
            ext=prepared.format.ext,
            content_type=prepared.format.content_type,
            filename=filename or f"{image_id}.{prepared.format.ext}",
            size=prepared.size,
            is_public=is_public,
            tags=tuple(tags),
            created_ms=int(time.time() * 1000),
            etag=prepared.etag,
            width=prepared.dimensions[0] if prepared.dimensions else None,
            height=prepared.dimensions[1] if prepared.dimensions else None,
        )
        try:
            await self.storage.put_file(record.object_key, prepared.path, record.content_type)
        except BaseException:
            await asyncio.shield(self._abandon(record, object_written=False))
            raise
        try:
            async with timed(self.metrics.redis_latency, "commit_upload"):
                committed = await self.metadata.commit(record)
        except RedisError:
            # The reply may be what was lost: if the record is there, the upload is stored.
            if await self._is_stored(record):
                return record
            await asyncio.shield(self._abandon(record, object_written=True))
            raise
        except BaseException:
            await asyncio.shield(self._abandon(record, object_written=True))
            raise
        if not committed:
            await asyncio.shield(self._abandon(record, object_written=True))
            raise ServiceUnavailable("the upload took too long to complete; please retry")
        log.info("upload user=%s id=%s size=%d type=%s", owner, image_id, record.size, record.content_type)
        return record

    async def _is_stored(self, record: ImageRecord) -> bool:
        try:
            return await self.metadata.get_owned(record.owner, record.id) is not None
        except RedisError:
            return False

    async def _abandon(self, record: ImageRecord, *, object_written: bool) -> None:
        """Undo a failed upload: give the quota back and remove the object, unless it was committed."""
        try:
            released = await self.metadata.release_quota(record.owner, record.id)
        except RedisError:
            log.warning("could not release quota for %s; gc will reclaim it", record.id)
            return
        if object_written and released:
            with contextlib.suppress(StorageError):
                await self.storage.delete(record.object_key)

    async def get(self, principal: Principal, image_id: str) -> ImageRecord:
        record = await self.metadata.get_owned(principal.user_id, image_id)
        if record is None:
            raise NotFound("no such image")
        return record

    async def update(
        self, principal: Principal, image_id: str, *, tags: Sequence[str] | None, is_public: bool | None
    ) -> ImageRecord:
        change = await self.metadata.update(principal.user_id, image_id, tags=tags, is_public=is_public)
        if change is None:
            raise NotFound("no such image")
        await self._changed(*change)
        return change[1]

    async def delete(self, principal: Principal, image_id: str) -> ImageRecord:
        before = await self.metadata.get_owned(principal.user_id, image_id)
        if before is None:
            raise NotFound("no such image")
        try:
            async with timed(self.metrics.redis_latency, "delete_image"):
                record = await self.metadata.delete(principal.user_id, image_id)
        except RedisError:
            # The script may have run and only its reply been lost: if the record is gone, the
            # delete happened, and the object must go too.
            if await self.metadata.get_owned(before.owner, before.id) is not None:
                raise
            record = before
        if record is None:
            raise NotFound("no such image")
        await self._changed(record, None)
        try:
            await self.storage.delete(record.object_key)
        except StorageError as exc:
            log.warning("storage delete of %s failed, queued for retry: %s", record.object_key, exc)
            await self.deletions.enqueue(record.object_key)
        # Every key a variant may have (deleting an absent key succeeds). One that fails is left to
        # gc, which removes variants whose image is gone: most of these keys never existed, so
        # queueing them all while storage is down would only add work.
        outcomes = await asyncio.gather(
            *(self.storage.delete(key) for key in variant_object_keys(record.id, record.ext)), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, StorageError):
                log.warning("storage delete of a variant of %s failed, left for gc: %s", record.id, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        log.info("delete user=%s id=%s size=%d", record.owner, image_id, record.size)
        return record
