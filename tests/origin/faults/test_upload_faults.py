"""Writes caught in a fault: uploads while Redis or S3 goes down or resets, and Redis replies lost
after their command ran (the connection reset; redis-py then retries the command).

What must hold: no quota drift and no record without its object: the quota is the stored sizes
plus pending reservations, and exactly the stored sizes once gc has run, with no orphan object
left. A lost reply must not charge an upload twice, report a stored upload as failed, or lose a
delete (nor its CDN purge).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from config import Settings
from config.purge import PurgeSettings
from config.settings import with_overrides
from origin.app_keys import STORAGE
from origin.storage.s3 import S3Storage
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.fault_proxy import FaultProxy
from tests.origin.faults.harness import (
    BOUND,
    FAULTS,
    Answer,
    ask,
    check_nothing_lost,
    form,
    read_ledger,
    upload_ok,
)
from tests.polling import eventually
from tests.servers import free_port

#: How long the fault lasts mid-batch. Longer for S3: the S3 client's own retries (with up to a
#: few seconds of backoff) must run out for some uploads, so that both the retried and the failed
#: paths are exercised.
FAULT_SECONDS = {"redis": 0.8, "s3": 4.0}


@dataclass
class Batch:
    acknowledged: dict[str, bytes] = field(default_factory=dict)  # media path -> bytes
    answers: list[Answer] = field(default_factory=list)
    caught_in_the_fault: int = 0  # uploads in flight when the fault began


async def _upload_through_a_fault(origin: Origin, key: str, proxy: FaultProxy, fault: str, seconds: float) -> Batch:
    """Upload continuously from four tasks; after a few successes switch ``fault`` on for
    ``seconds``, then back to pass; stop once a few more uploads succeeded after the fault."""
    batch = Batch()
    in_flight = 0
    fault_over = asyncio.Event()
    after_fault = 0
    counter = itertools.count()

    async def worker() -> None:
        nonlocal after_fault, in_flight
        while after_fault < 6 and len(batch.answers) < 300:
            n = next(counter)
            data = images.jpeg(size=(40 + n % 50, 30 + n % 20), color=(n % 256, 7 * n % 256, 99))
            in_flight += 1
            answer = await ask(origin, f"upload {n}", "/v1/images", method="POST", key=key, data=form(data))
            in_flight -= 1
            batch.answers.append(answer)
            if answer.status == 201:
                batch.acknowledged[answer.media_path] = data
                after_fault += fault_over.is_set()
            else:
                await asyncio.sleep(0.05)

    async def some_acknowledged() -> bool:
        return len(batch.acknowledged) >= 5

    async def flip() -> None:
        await eventually(some_acknowledged, "uploads before the fault", within=BOUND)
        batch.caught_in_the_fault = in_flight
        await FAULTS[fault](proxy)
        await asyncio.sleep(seconds)
        await proxy.forward()
        fault_over.set()

    await asyncio.gather(flip(), *(worker() for _ in range(4)))
    return batch


@pytest.mark.parametrize("fault", ["down", "reset"])
@pytest.mark.parametrize("target", ["redis", "s3"])
async def test_uploads_through_a_fault_leave_no_quota_drift_and_no_record_without_its_object(
    redis_proxy: FaultProxy,
    s3_proxy: FaultProxy,
    both_faulty: Origin,
    redis_client: Redis,
    direct_s3: S3Storage,
    target: str,
    fault: str,
) -> None:
    origin = both_faulty
    key = await origin.user(plan="bulk")
    proxy = redis_proxy if target == "redis" else s3_proxy
    batch = await _upload_through_a_fault(origin, key, proxy, fault, FAULT_SECONDS[target])
    statuses = [answer.status for answer in batch.answers]
    print(
        f"{target} {fault}: {len(statuses)} uploads ({batch.caught_in_the_fault} in flight when it began),"
        f" {statuses.count(201)} acknowledged, {statuses.count(503)} 503"
    )
    unexpected = [str(answer) for answer in batch.answers if answer.status not in (201, 503)]
    assert not unexpected, unexpected
    assert batch.caught_in_the_fault, "no upload was in flight when the fault began: the test proves nothing"
    assert 503 in statuses, "no upload failed: the test proves nothing"
    await check_nothing_lost(origin, redis_client, direct_s3, origin.keys[key], batch.acknowledged)


#: How long the proxy holds each Redis chunk in the lost-reply tests: the window in which the
#: test sees the command's effect in Redis and resets the connection before the reply gets out.
HELD_REPLY_SECONDS = 0.1


async def _lose_a_reply(proxy: FaultProxy, executed: Callable[[], Awaitable[bool]]) -> None:
    """Wait until a Redis command has run (``executed``) while the proxy still holds its reply
    (delay mode), then reset every connection: the reply is lost, the command is not."""
    await eventually(executed, "the command ran in Redis", within=BOUND)
    await proxy.reset()
    await proxy.forward()


async def test_a_lost_reply_to_the_quota_reservation_does_not_charge_the_upload_twice(
    redis_proxy: FaultProxy, redis_faulty: Origin, redis_client: Redis
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    user = origin.keys[key]
    data = images.jpeg(color=(3, 3, 3))
    await redis_proxy.delay(HELD_REPLY_SECONDS)
    upload = asyncio.create_task(ask(origin, "upload", "/v1/images", method="POST", key=key, data=form(data)))

    async def reserved() -> bool:
        return bool(await redis_client.exists(f"pending:{{{user}}}"))

    await _lose_a_reply(redis_proxy, reserved)
    answer = await upload
    print(answer)
    assert answer.status in (201, 503), answer
    acknowledged = {answer.media_path: data} if answer.status == 201 else {}
    await check_nothing_lost(origin, redis_client, origin.app[STORAGE], user, acknowledged)


async def test_a_lost_reply_to_the_commit_does_not_report_a_stored_upload_as_failed(
    redis_proxy: FaultProxy, redis_faulty: Origin, redis_client: Redis
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    user = origin.keys[key]
    data = images.jpeg(color=(5, 5, 5))
    await redis_proxy.delay(HELD_REPLY_SECONDS)
    upload = asyncio.create_task(ask(origin, "upload", "/v1/images", method="POST", key=key, data=form(data)))

    async def committed() -> bool:
        return bool(await redis_client.exists(f"images:{{{user}}}"))

    await _lose_a_reply(redis_proxy, committed)
    answer = await upload
    stored = await read_ledger(redis_client, origin.app[STORAGE], user)
    print(answer, stored)
    assert stored.records, "the commit ran: the image is stored"
    assert answer.status == 201, f"{answer} for an upload that was stored: the client will upload it again"


async def test_a_lost_reply_to_a_delete_still_deletes_the_object_and_purges_the_cdn(
    redis_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings, redis_client: Redis
) -> None:
    # A webhook CDN nobody answers: purge jobs stay in their queue, where the test can see them.
    cdn = PurgeSettings(cdn="webhook", cdn_url=f"http://127.0.0.1:{free_port()}/purge", cdn_secret="s" * 32)
    redis_url = f"redis://{redis_proxy.address}/0"
    origin = await start_origin(aiohttp_client, with_overrides(settings, redis_url=redis_url, purge=cdn))
    key = await origin.user(plan="bulk")
    user = origin.keys[key]
    path = await upload_ok(origin, key, images.jpeg(color=(6, 6, 6)))
    object_key = path.lstrip("/")
    image_id = object_key.split(".")[0]
    await redis_proxy.delay(HELD_REPLY_SECONDS)
    delete = asyncio.create_task(ask(origin, "delete", f"/v1/images/{image_id}", method="DELETE", key=key))

    async def record_gone() -> bool:
        return not await redis_client.exists(f"img:{{{user}}}:{image_id}")

    await _lose_a_reply(redis_proxy, record_gone)
    answer = await delete
    left = await origin.app[STORAGE].size(object_key)
    queued = await redis_client.lrange("queue:storage-delete", 0, -1)
    purges = await redis_client.zrange("queue:cdn-purge", 0, -1)
    print(answer, f"object left: {left}, delete queue: {queued}, CDN purge queue: {purges}")
    problems = []
    if answer.status not in (200, 503):
        problems.append(f"{answer}: this very request deleted the image (200), or cannot tell (503)")
    if left is not None and object_key not in queued:
        problems.append(f"object {object_key} still stored and not queued for deletion")
    if not any(image_id in job for job in purges):
        problems.append(f"the CDN is never told to forget {path}: it serves the deleted image until s-maxage")
    assert not problems, "\n".join(problems)
