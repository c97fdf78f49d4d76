"""Telling the CDN to forget images: pluggable clients and a durable, retried queue in Redis.

Jobs live in a sorted set scored by when they are next due. A worker claims due jobs by pushing
their score a lease into the future (one Lua script, so two instances never send the same job at
once); success removes the job, failure reschedules it with exponential backoff. A process that
dies mid-send leaves the job to reappear when its lease ends: purges are never lost, across
restarts included, and never block an API response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from redis.exceptions import RedisError

from auth.redis_types import RedisClient, text_list
from auth.webhook_signature import HEADER, sign
from config.purge import PurgeSettings
from origin.background import stop_if_cancelled
from origin.web.metrics import Metrics

log = logging.getLogger(__name__)

QUEUE_KEY = "queue:cdn-purge"
LEASE_SECONDS = 60
CLOUDFLARE_BATCH = 30

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member) end
return due
"""

_RESCHEDULE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3]) end
return 1
"""


class CdnPurgeError(Exception):
    """The CDN refused or could not be reached; the job is retried."""


class CdnClient(Protocol):
    async def purge(self, urls: Sequence[str], tags: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class PurgeJob:
    urls: tuple[str, ...]
    tags: tuple[str, ...]
    attempts: int = 0
    created: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def encode(self) -> str:
        return json.dumps(
            {"id": self.id, "urls": self.urls, "tags": self.tags, "attempts": self.attempts, "created": self.created}
        )

    @classmethod
    def decode(cls, raw: str) -> PurgeJob:
        data = json.loads(raw)
        return cls(tuple(data["urls"]), tuple(data["tags"]), int(data["attempts"]), float(data["created"]), data["id"])


class WebhookCdn:
    """POSTs ``{"urls": [...], "tags": [...]}`` signed like the inbound purge webhook."""

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session, self.url, self.secret = session, url, secret

    async def purge(self, urls: Sequence[str], tags: Sequence[str]) -> None:
        body = json.dumps({"urls": list(urls), "tags": list(tags)}).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, int(time.time()), body)}
        try:
            async with self.session.post(self.url, data=body, headers=headers) as response:
                if response.status >= 300:
                    raise CdnPurgeError(f"webhook answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CdnPurgeError(f"webhook unreachable: {exc}") from exc


class CloudflareCdn:
    """Cloudflare's purge API: by URL, and by Cache-Tag when enabled (Enterprise)."""

    def __init__(self, session: aiohttp.ClientSession, settings: PurgeSettings) -> None:
        self.session = session
        self.endpoint = f"{settings.cloudflare_api_url}/zones/{settings.cloudflare_zone_id}/purge_cache"
        self.headers = {"Authorization": f"Bearer {settings.cloudflare_api_token}"}
        self.purge_tags = settings.cloudflare_purge_tags

    async def _post(self, payload: dict[str, list[str]]) -> None:
        try:
            async with self.session.post(self.endpoint, json=payload, headers=self.headers) as response:
                body = await response.json(content_type=None)
                if response.status >= 300 or not (isinstance(body, dict) and body.get("success")):
                    raise CdnPurgeError(f"cloudflare answered {response.status}: {body}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CdnPurgeError(f"cloudflare unreachable: {exc}") from exc

    async def purge(self, urls: Sequence[str], tags: Sequence[str]) -> None:
        for start in range(0, len(urls), CLOUDFLARE_BATCH):
            await self._post({"files": list(urls[start : start + CLOUDFLARE_BATCH])})
        if self.purge_tags:
            for start in range(0, len(tags), CLOUDFLARE_BATCH):
                await self._post({"tags": list(tags[start : start + CLOUDFLARE_BATCH])})


class CdnPurger:
    """The queue and its worker; with no CDN configured, ``enqueue`` does nothing."""

    def __init__(
        self, redis: RedisClient, client: CdnClient | None, settings: PurgeSettings, metrics: Metrics | None = None
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.client = client
        self.settings = settings
        self._claim = redis.register_script(_CLAIM)
        self._reschedule = redis.register_script(_RESCHEDULE)
        self._wake = asyncio.Event()

    async def enqueue(self, urls: Sequence[str], tags: Sequence[str]) -> bool:
        """Queue a purge; False when there is nothing to send or no CDN to send it to."""
        if self.client is None or not (urls or tags):
            return False
        job = PurgeJob(tuple(urls), tuple(tags))
        await self.redis.zadd(QUEUE_KEY, {job.encode(): time.time()})
        self._wake.set()
        return True

    async def depth(self) -> int:
        return int(await self.redis.zcard(QUEUE_KEY))

    async def process_due(self, batch: int = 20) -> int:
        """Send every due job once; returns how many were delivered."""
        if self.client is None:
            return 0
        now = time.time()
        claimed = text_list(await self._claim(keys=[QUEUE_KEY], args=[now, now + LEASE_SECONDS, batch]))
        delivered = 0
        for member in claimed:
            job = PurgeJob.decode(member)
            try:
                await self.client.purge(job.urls, job.tags)
            except CdnPurgeError as exc:
                if self.metrics is not None:
                    self.metrics.cdn_purges.labels("failed").inc()
                delay = min(self.settings.retry_base_seconds * 2**job.attempts, self.settings.retry_max_seconds)
                log.warning("CDN purge failed (attempt %d, retry in %.1fs): %s", job.attempts + 1, delay, exc)
                retry = PurgeJob(job.urls, job.tags, job.attempts + 1, job.created, job.id)
                await self._reschedule(keys=[QUEUE_KEY], args=[member, time.time() + delay, retry.encode()])
                continue
            await self.redis.zrem(QUEUE_KEY, member)
            delivered += 1
            if self.metrics is not None:
                self.metrics.cdn_purges.labels("delivered").inc()
                self.metrics.cdn_purge_lag.observe(time.time() - job.created)
            log.info(
                "CDN purge delivered after %.2fs: %d urls, %d tags",
                time.time() - job.created,
                len(job.urls),
                len(job.tags),
            )
        if self.metrics is not None:
            self.metrics.cdn_queue_depth.set(await self.depth())
        return delivered

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Worker loop for the app's lifetime (every instance runs one)."""
        while True:
            stop_if_cancelled()
            try:
                await self.process_due()
            except RedisError as exc:
                log.warning("CDN purge queue unavailable: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
