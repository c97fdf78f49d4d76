"""Fixtures of the fault tests: fault proxies in front of the session's redis-server and moto S3
server, and origins whose Redis, S3 or both are reached through them (helpers: ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from config import Settings
from config.settings import with_overrides
from origin.storage.s3 import S3Storage, open_s3_client
from tests.conftest import AiohttpClient, Origin, s3_settings, start_origin
from tests.fault_proxy import FaultProxy
from tests.origin.faults.harness import PLANS, STREAM_LIMIT, TTL


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", _port(redis_url)) as proxy:
        yield proxy


@pytest.fixture
async def s3_proxy(s3_endpoint: str) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", _port(s3_endpoint)) as proxy:
        yield proxy


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return with_overrides(base_settings, metadata_ttl_seconds=TTL, plans=PLANS, cache_max_object_bytes=STREAM_LIMIT)


@pytest.fixture
async def redis_faulty(
    redis_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings
) -> AsyncIterator[Origin]:
    """The origin (filesystem storage) with Redis behind the proxy."""
    yield await start_origin(aiohttp_client, with_overrides(settings, redis_url=f"redis://{redis_proxy.address}/0"))
    await redis_proxy.forward()  # the origin shuts down over a healthy link


@pytest.fixture
async def s3_faulty(
    s3_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings, s3_bucket: str
) -> AsyncIterator[Origin]:
    """The origin with S3 behind the proxy (Redis direct)."""
    s3 = s3_settings(f"http://{s3_proxy.address}", s3_bucket)
    yield await start_origin(aiohttp_client, with_overrides(settings, storage="s3", s3=s3))
    await s3_proxy.forward()


@pytest.fixture
async def both_faulty(
    redis_proxy: FaultProxy, s3_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings, s3_bucket: str
) -> AsyncIterator[Origin]:
    """The origin with both Redis and S3 behind proxies."""
    s3 = s3_settings(f"http://{s3_proxy.address}", s3_bucket)
    redis_url = f"redis://{redis_proxy.address}/0"
    yield await start_origin(aiohttp_client, with_overrides(settings, storage="s3", s3=s3, redis_url=redis_url))
    await redis_proxy.forward()
    await s3_proxy.forward()


@pytest.fixture
async def direct_s3(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Storage]:
    """The test's bucket, reached without the proxy (to check what is really stored)."""
    async with open_s3_client(s3_settings(s3_endpoint, s3_bucket)) as client:
        yield S3Storage(client, s3_bucket)
