"""The origin on a real three-master Redis Cluster: every multi-key operation stays on one slot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from auth.webhook_signature import sign
from config import Settings
from config.purge import PurgeSettings
from origin.app_keys import REDIS, STORAGE
from origin.images import redis_keys as rk
from origin.images.gc import collect_garbage
from origin.images.metadata import MetadataRepository
from origin.redis.client import connect
from tests import images
from tests.conftest import TEST_PLANS, AiohttpClient, Origin, start_origin
from tests.servers import run_redis_cluster

SECRET = "p" * 40


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
async def cluster_client(cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = connect(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def cluster_origin(
    aiohttp_client: AiohttpClient, cluster_url: str, cluster_client: RedisCluster, tmp_path: Path
) -> Origin:
    settings = Settings(
        data_dir=tmp_path / "data",
        redis_url=cluster_url,
        media_base_url="https://media.picora.test",
        plans=TEST_PLANS,
        purge=PurgeSettings(secrets=(SECRET,)),
    )
    return await start_origin(aiohttp_client, settings)


async def test_the_cluster_really_spreads_keys_over_several_masters(cluster_client: RedisCluster) -> None:
    slots = {cluster_client.keyslot(rk.quota(f"user{i}")) for i in range(20)}
    nodes = {str(cluster_client.get_node_from_key(rk.quota(f"user{i}"))) for i in range(20)}
    assert len(slots) > 1
    assert len(nodes) == 3
    for user in ("alice", "bob"):
        keys = [rk.quota(user), rk.pending(user), rk.images(user), rk.image(user, "x" * 11), rk.tagged(user, "t")]
        assert len({cluster_client.keyslot(key) for key in keys}) == 1


async def test_the_whole_api_works_on_a_cluster(cluster_origin: Origin) -> None:
    origin = cluster_origin
    users = [await origin.user(f"user{i}", plan="tiny") for i in range(4)]
    for key in users:
        uploaded = [await origin.upload_ok(key, images.png(), tags='["a", "b"]') for _ in range(3)]
        listing = await (await origin.client.get("/v1/images?limit=2&tag=a", headers=origin.auth(key))).json()
        assert [item["id"] for item in listing["data"]["items"]] == [u["id"] for u in reversed(uploaded)][:2]
        assert listing["data"]["nextCursor"]
        patched = await origin.client.patch(
            f"/v1/images/{uploaded[0]['id']}", json={"tags": ["c"], "isPublic": False}, headers=origin.auth(key)
        )
        assert patched.status == 200
        assert (await origin.client.get(f"/{uploaded[0]['id']}.png")).status == 401
        deleted = await origin.client.delete(f"/v1/images/{uploaded[1]['id']}", headers=origin.auth(key))
        assert deleted.status == 200
        usage = await (await origin.client.get("/v1/usage", headers=origin.auth(key))).json()
        assert usage["data"]["img_storage"]["usedBytes"] == 2 * len(images.png())
        signed = await origin.client.post(f"/v1/images/{uploaded[0]['id']}/signed-url", headers=origin.auth(key))
        url = (await signed.json())["data"]["url"].split("media.picora.test", 1)[1]
        assert (await origin.client.get(url)).status == 200


async def test_quota_is_exact_under_parallel_uploads_on_a_cluster(cluster_origin: Origin) -> None:
    origin = cluster_origin
    key = await origin.user("quota-user", plan="tiny")  # 300,000 bytes
    data = images.png((400, 300))
    responses = await asyncio.gather(*(origin.upload(key, data) for _ in range(12)))
    admitted = sum(r.status == 201 for r in responses)
    assert admitted == min(12, 300_000 // len(data))
    redis = origin.app[REDIS]
    assert int(await redis.get(rk.quota("quota-user")) or 0) == admitted * len(data)


async def test_purge_fan_out_and_gc_work_on_a_cluster(cluster_origin: Origin, tmp_path: Path) -> None:
    origin = cluster_origin
    key = await origin.user("purger")
    image = await origin.upload_ok(key, images.png())
    body = json.dumps({"ids": [image["id"]]}).encode()
    purged = await origin.client.post(
        "/v1/purge", data=body, headers={"X-Picora-Signature": sign(SECRET, int(time.time()), body)}
    )
    assert purged.status == 202
    redis, storage = origin.app[REDIS], origin.app[STORAGE]
    metadata = MetadataRepository(redis)
    abandoned = await metadata.reserve_id("purger")
    await metadata.reserve_quota("purger", abandoned, 99, 10**9)
    report = await collect_garbage(redis, storage, grace_seconds=0, now=time.time() + 1)
    assert report.reservations_released == 1
    assert await metadata.used_bytes("purger") == image["sizeBytes"]
