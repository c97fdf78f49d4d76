"""Cache invalidation on every origin process and machine, fanned out through Redis pub/sub.

A change is applied locally at once, then published; every subscriber applies it on receipt
(applying twice is harmless). A subscriber that loses its connection may miss messages, so each
(re)subscription starts by dropping all local caches: stale state then lives at most until the
reconnect, and never beyond the metadata TTL since the memo expires entries on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from auth.redis_types import RedisClient
from origin.background import stop_if_cancelled

log = logging.getLogger(__name__)

CHANNEL = "picora:invalidate"
#: Without a pong for this long the subscription is presumed dead (blackholed) and rebuilt.
SILENCE_LIMIT_SECONDS = 6.0


@dataclass(frozen=True, slots=True)
class Invalidation:
    ids: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()

    def encode(self) -> str:
        return json.dumps({"ids": list(self.ids), "owners": list(self.owners)})

    @classmethod
    def decode(cls, raw: str) -> Invalidation:
        data = json.loads(raw)
        return cls(tuple(map(str, data.get("ids", []))), tuple(map(str, data.get("owners", []))))


class InvalidationBus:
    def __init__(
        self, redis: RedisClient, apply: Callable[[Invalidation], None], clear_all: Callable[[], None]
    ) -> None:
        self.redis = redis
        self.apply = apply
        self.clear_all = clear_all
        self.subscribed = asyncio.Event()
        self.received = 0

    async def publish(self, *, ids: Sequence[str] = (), owners: Sequence[str] = ()) -> None:
        message = Invalidation(tuple(ids), tuple(owners))
        self.apply(message)
        await self.redis.publish(CHANNEL, message.encode())

    async def run(self) -> None:
        """Subscribe for the app's lifetime, resubscribing (and dropping caches) after any loss."""
        delay = 0.1
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                stop_if_cancelled()
                log.warning("invalidation subscription lost (%s); resubscribing", exc)
            self.subscribed.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            self.clear_all()
            self.subscribed.set()
            heard = time.monotonic()
            while True:
                stop_if_cancelled()
                # Every reply counts as a sign of life. Subscribe confirmations are not ignored
                # here because redis-py, with decode_responses, misreads a PONG as one of them.
                message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    if message.get("type") == "message":
                        self._handle(message.get("data"))
                elif now - heard > SILENCE_LIMIT_SECONDS:
                    raise TimeoutError("no pong from Redis")
                elif now - heard > SILENCE_LIMIT_SECONDS / 3:
                    await pubsub.ping()
        finally:
            # Bounded: closing a connection whose connect was cancelled midway can wait forever.
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(pubsub.aclose(), timeout=1.0)  # type: ignore[no-untyped-call]

    def _handle(self, data: object) -> None:
        try:
            message = Invalidation.decode(str(data))
        except (ValueError, AttributeError):
            log.warning("ignoring malformed invalidation message %r", data)
            return
        self.received += 1
        self.apply(message)
