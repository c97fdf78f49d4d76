"""Storage deletes that failed, kept in Redis and retried until they succeed.

A delete answers as soon as the metadata is gone; the object's removal may fail (storage down),
so its key goes on a durable list that every instance drains in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from auth.redis_types import RedisClient, text_list
from origin.background import stop_if_cancelled
from origin.errors import StorageError
from origin.images import redis_keys as rk
from origin.storage import ObjectStorage

log = logging.getLogger(__name__)


class DeletionQueue:
    """Enqueue failed deletes; ``drain`` retries them (``run`` does so periodically)."""

    def __init__(self, redis: RedisClient, storage: ObjectStorage) -> None:
        self.redis = redis
        self.storage = storage

    async def enqueue(self, object_key: str) -> None:
        await self.redis.rpush(rk.STORAGE_DELETE_QUEUE, object_key)

    async def pending(self) -> list[str]:
        return text_list(await self.redis.lrange(rk.STORAGE_DELETE_QUEUE, 0, -1))

    async def drain(self, batch: int = 100) -> int:
        """Retry up to ``batch`` deletes; returns how many succeeded."""
        keys = text_list(await self.redis.lrange(rk.STORAGE_DELETE_QUEUE, 0, batch - 1))
        done = 0
        for key in keys:
            try:
                await self.storage.delete(key)
            except (StorageError, ValueError) as exc:
                log.warning("storage delete of %s still failing: %s", key, exc)
                continue
            await self.redis.lrem(rk.STORAGE_DELETE_QUEUE, 1, key)
            done += 1
        return done

    async def run(self, interval: float) -> None:
        """Background loop for the app's lifetime."""
        while True:
            stop_if_cancelled()
            with contextlib.suppress(RedisError, StorageError):
                await self.drain()
            await asyncio.sleep(interval)
