"""The origin through Redis Sentinel: it asks a real Sentinel where the master is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from config import Settings
from tests import images
from tests.conftest import TEST_PLANS, AiohttpClient, start_origin
from tests.servers import run_redis_sentinel


@pytest.fixture
def sentinel_url(redis_url: str, tmp_path: Path) -> Iterator[str]:
    with run_redis_sentinel(tmp_path, redis_url) as url:
        yield url


async def test_uploads_and_serving_work_through_sentinel(
    aiohttp_client: AiohttpClient, sentinel_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", redis_url=sentinel_url, media_base_url="https://m.test", plans=TEST_PLANS
    )
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user("sentinel-user")
    image = await origin.upload_ok(key, images.png())
    served = await origin.client.get(f"/{image['id']}.png")
    assert await served.read() == images.png()
    # The record landed in the master that Sentinel points at (the suite's redis-server).
    assert await redis_client.hget(f"img:{{sentinel-user}}:{image['id']}", "size") == str(len(images.png()))
