"""Connecting to Redis: a server, a Cluster, a Sentinel-managed master, or the embedded server.

``PICORA_REDIS_URL`` forms: ``redis://``/``rediss://``/``unix://`` (one server),
``redis+cluster://host:port[,host:port...]`` (Cluster; every per-user key carries the user id as
a hash tag, so scripts stay on one slot), ``redis+sentinel://host:port[,host:port...]/master-name``.
Timeouts are explicit and there are no silent retries: redis-py's defaults can stretch one
command to seconds, and would re-run a script whose reply was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from auth.redis_types import RedisClient
from config import Settings
from origin.redis.embedded import EmbeddedRedis

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"


def _options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        # No automatic retries: a command whose reply was lost may already have run, and the Lua
        # scripts (quota, commit, delete) must not run twice. Callers decide what a failure means.
        "retry": Retry(NoBackoff(), 0),
    }


def _hosts(netloc: str) -> list[tuple[str, int]]:
    hosts = []
    for item in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host.strip("[]") or "127.0.0.1", int(port)))
    return hosts


def connect(url: str) -> RedisClient:
    """A client for ``url`` (not yet connected: the first command connects)."""
    parts = urlsplit(url)
    if parts.scheme == CLUSTER_SCHEME:
        nodes = [ClusterNode(host, port) for host, port in _hosts(parts.netloc)]
        return RedisCluster(startup_nodes=nodes, **_options())
    if parts.scheme == SENTINEL_SCHEME:
        sentinel = Sentinel(_hosts(parts.netloc), socket_timeout=2)  # type: ignore[no-untyped-call]
        master: Redis = sentinel.master_for(parts.path.strip("/") or "mymaster", **_options())
        return master
    return Redis.from_url(url, health_check_interval=30, **_options())


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[RedisClient]:
    """A client for ``PICORA_REDIS_URL``, or for the embedded server (started if needed)."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis_url
    if url is None:
        embedded = EmbeddedRedis(settings.redis_dir)
        url = await asyncio.to_thread(embedded.start)
    client = connect(url)
    try:
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
