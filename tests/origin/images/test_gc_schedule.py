"""The server reclaims crash leftovers by itself: redis-server is SIGKILLed during uploads and
restarted, and with no ``gc`` run the usage equals the listed (and stored) bytes again within two
grace periods, as the README promises. Also: one sweep at a time across instances (the lease)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from config import Settings
from config.plans import Plan
from config.settings import with_overrides
from origin.app_keys import IMAGES, REDIS, STORAGE
from origin.images import redis_keys as rk
from origin.images.gc import SWEEPS_PER_GRACE, GcSchedule
from origin.images.ids import parse_object_key
from origin.storage import ObjectStorage
from tests import images
from tests.conftest import TEST_PLANS, AiohttpClient, Origin, start_origin
from tests.polling import eventually
from tests.servers import RedisServer

#: The grace period here: small, so "two grace periods" is seconds (production: an hour).
GRACE = 3
BULK = Plan("bulk", max_file_bytes=10**7, storage_bytes=10**9, uploads_per_minute=10**6, requests_per_minute=10**6)


async def _get_json(origin: Origin, key: str, path: str) -> Any:
    response = await origin.client.get(path, headers=origin.auth(key))
    assert response.status == 200, await response.text()
    return await response.json()


async def _accounts(origin: Origin, key: str, client: Redis, user: str) -> dict[str, Any]:
    """What the API says (usage, listing) and what Redis and storage hold, for one user."""
    used = (await _get_json(origin, key, "/v1/usage"))["data"]["img_storage"]["usedBytes"]
    listed: dict[str, int] = {}
    cursor = ""
    while True:
        page = (await _get_json(origin, key, f"/v1/images?limit=100&cursor={cursor}"))["data"]
        listed.update({f"{item['id']}.{item['url'].rsplit('.', 1)[1]}": item["sizeBytes"] for item in page["items"]})
        if not (cursor := page["nextCursor"] or ""):
            break
    # Originals only: variants (rendered after upload) are outside the quota, and gc has its own test for them.
    stored = {info.key: info.size async for info in origin.app[STORAGE].list_objects() if _is_original(info.key)}
    pending = await client.hgetall(rk.pending(user))
    return {"used": used, "listed": listed, "stored": stored, "pending": pending}


def _is_original(key: str) -> bool:
    parsed = parse_object_key(key)
    return parsed is not None and parsed[1] is None


def _settled(accounts: dict[str, Any]) -> bool:
    listed = accounts["listed"]
    return accounts["used"] == sum(listed.values()) and accounts["stored"] == listed and not accounts["pending"]


class HeldPuts:
    """The app's real storage, with object writes held at a gate: uploads that have reserved their
    quota wait there, so the kill falls between reservation and commit, where a crash leaves debris."""

    def __init__(self, inner: ObjectStorage) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = 0

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.waiting += 1
        await self.gate.wait()
        await self.inner.put_file(key, path, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _upload(origin: Origin, key: str, n: int) -> int:
    form = aiohttp.FormData()
    form.add_field("file", images.jpeg(size=(30 + n, 30)), filename="a.jpg")
    async with asyncio.timeout(30):
        response = await origin.client.post("/v1/images", data=form, headers=origin.auth(key))
        await response.read()
        return response.status


async def test_quota_equals_the_stored_bytes_again_within_two_grace_periods_without_gc(
    killable_redis: RedisServer, killable_client: Redis, aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    plans = {**TEST_PLANS, "bulk": BULK}
    settings = with_overrides(base_settings, redis_url=killable_redis.url, upload_grace_seconds=GRACE, plans=plans)
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user(plan="bulk")
    user = origin.keys[key]
    assert [await _upload(origin, key, n) for n in range(3)] == [201] * 3
    held = HeldPuts(origin.app[IMAGES].storage)
    origin.app[IMAGES].storage = held
    uploads = [asyncio.create_task(_upload(origin, key, n)) for n in range(3, 7)]
    # Each has its id and quota reserved, its object not yet written.
    await eventually(lambda: held.waiting == len(uploads), "uploads reached the object write", within=10)
    await asyncio.to_thread(killable_redis.kill)
    held.gate.set()  # the objects are written; the commits find Redis gone, and so do the releases
    statuses = await asyncio.gather(*uploads)
    assert set(statuses) == {503}, statuses
    await asyncio.to_thread(killable_redis.start)
    restarted = time.monotonic()
    origin.app[IMAGES].storage = held.inner

    async def recovered() -> bool:
        return await _upload(origin, key, 8) == 201

    await eventually(recovered, "an upload succeeds again after the restart", within=10, interval=0.05)

    first = await _accounts(origin, key, killable_client, user)
    debris = sorted(set(first["stored"]) - set(first["listed"]))
    print(f"after the restart: used {first['used']}, listed {sum(first['listed'].values())}, "
          f"pending {first['pending']}, objects not listed {debris}")  # fmt: skip
    assert len(first["pending"]) == len(uploads), "the kill left no reservations: the test proves nothing"
    assert len(debris) == len(uploads), "the kill left no orphan objects: the test proves nothing"

    # No gc is run: the server's own schedule must settle the accounts, within two grace periods.
    async def settled() -> bool:
        return _settled(await _accounts(origin, key, killable_client, user))

    left = 2 * GRACE - (time.monotonic() - restarted)
    await eventually(settled, f"usage equals the listed and stored bytes ({GRACE}s grace)", within=left, interval=0.1)
    print(f"settled {time.monotonic() - restarted:.2f}s after the restart (grace {GRACE}s)")
    accounts = await _accounts(origin, key, killable_client, user)
    assert len(accounts["listed"]) == 4
    for path in accounts["listed"]:
        assert (await origin.client.get(f"/{path}")).status == 200


async def test_one_sweep_at_a_time_across_instances(origin: Origin) -> None:
    redis_client, storage = origin.app[REDIS], origin.app[STORAGE]
    first, second = GcSchedule(redis_client, storage, 60), GcSchedule(redis_client, storage, 60)
    assert first.interval == 60 / SWEEPS_PER_GRACE
    await redis_client.set(rk.GC_LEASE, first.token, px=60_000)  # first is mid-sweep
    assert await second.sweep() is None  # so the second does not sweep
    await redis_client.delete(rk.GC_LEASE)
    assert await second.sweep() is not None
    assert await redis_client.get(rk.GC_LEASE) is None  # let go after the sweep
