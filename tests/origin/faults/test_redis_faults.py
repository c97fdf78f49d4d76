"""Redis faults: unreachable or blackholed behind the fault proxy, and its own redis-server
SIGKILLed and restarted mid-run (an append-only file fsynced on every write). Nothing is mocked.

What must hold: cached public images are still served; what needs Redis (an uncached image, the
API) answers 503 with Retry-After, quickly; private images fail closed once the metadata memo has
expired; when Redis is back the origin recovers by itself. Through a kill and restart, uploads and
fetches recover by themselves and nothing is lost (the ledger, ``harness.check_nothing_lost``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import pytest
from redis.asyncio import Redis
from yarl import URL

from config import Settings
from config.settings import with_overrides
from origin.app_keys import INVALIDATION, STORAGE
from origin.fanout.invalidation import CHANNEL
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.fault_proxy import FaultProxy
from tests.origin.faults.harness import (
    FAULTS,
    RECOVERY,
    TTL,
    Answer,
    ask,
    check_nothing_lost,
    form,
    report,
    served_problems,
    unavailable_problems,
    upload_ok,
)
from tests.polling import eventually
from tests.servers import RedisServer


@pytest.mark.parametrize("fault", ["down", "blackhole"])
async def test_redis_outage_a_cached_public_image_is_still_served(
    redis_proxy: FaultProxy, redis_faulty: Origin, fault: str
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    data = images.jpeg()
    path = await upload_ok(origin, key, data)
    for _ in range(2):  # metadata memo and body cache both warm
        assert (await ask(origin, "warm-up", path)).status == 200
    await FAULTS[fault](redis_proxy)
    answers = [await ask(origin, "cached public image, at once", path)]
    await asyncio.sleep(2 * TTL + 0.1)
    answers.append(await ask(origin, "cached public image, outage older than the metadata TTL", path))
    report(f"redis {fault}", answers)
    problems = [problem for answer in answers for problem in served_problems(answer, data)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fault", ["down", "blackhole"])
async def test_redis_outage_uncached_images_and_the_api_get_a_quick_503(
    redis_proxy: FaultProxy, redis_faulty: Origin, fault: str
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    cold = await upload_ok(origin, key, images.jpeg(color=(1, 2, 3)))
    await FAULTS[fault](redis_proxy)
    answers = await asyncio.gather(
        ask(origin, "uncached public image", cold),
        ask(origin, "GET /v1/usage", "/v1/usage", key=key),
        ask(origin, "GET /v1/images", "/v1/images", key=key),
        ask(origin, "upload", "/v1/images", method="POST", key=key, data=form(images.jpeg(color=(4, 5, 6)))),
    )
    report(f"redis {fault}", answers)
    print(f"redis {fault}: worst 503 latency {max(answer.seconds for answer in answers):.2f}s")
    problems = [problem for answer in answers for problem in unavailable_problems(answer)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fault", ["down", "blackhole"])
async def test_redis_outage_private_images_fail_closed_once_the_metadata_memo_expires(
    redis_proxy: FaultProxy, redis_faulty: Origin, fault: str
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    data = images.jpeg(color=(9, 9, 9))
    path = await upload_ok(origin, key, data, isPublic="false")
    image_id = path.lstrip("/").split(".")[0]
    signed = await origin.client.post(f"/v1/images/{image_id}/signed-url", headers=origin.auth(key))
    signed_path = URL((await signed.json())["data"]["url"]).path_qs
    assert (await ask(origin, "owner, warm-up", path, key=key)).status == 200
    assert (await ask(origin, "signed URL, warm-up", signed_path)).status == 200
    await FAULTS[fault](redis_proxy)
    await asyncio.sleep(2 * TTL + 0.1)  # every decision memoised before the outage has expired
    owner, by_signature, anonymous = await asyncio.gather(
        ask(origin, "private image, owner's key", path, key=key),
        ask(origin, "private image, signed URL", signed_path),
        ask(origin, "private image, anonymous", path),
    )
    report(f"redis {fault}", [owner, by_signature, anonymous])
    problems = unavailable_problems(owner) + unavailable_problems(by_signature)
    if anonymous.status not in (401, 503) or data in anonymous.body:
        problems.append(f"{anonymous}: expected 401 or 503, never the bytes")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fault", ["down", "blackhole"])
async def test_redis_outage_the_origin_recovers_by_itself(
    redis_proxy: FaultProxy, redis_faulty: Origin, redis_client: Redis, fault: str
) -> None:
    origin = redis_faulty
    key = await origin.user(plan="bulk")
    data = images.jpeg(color=(7, 7, 7))
    cold = await upload_ok(origin, key, data)
    bus = origin.app[INVALIDATION]
    await FAULTS[fault](redis_proxy)
    if fault == "down":
        assert (await ask(origin, "usage during the outage", "/v1/usage", key=key)).status == 503
        stuck = None
    else:  # a request stuck on the blackhole when Redis comes back
        stuck = asyncio.create_task(ask(origin, "usage stuck in the blackhole", "/v1/usage", key=key))
        await asyncio.sleep(0.5)
    await redis_proxy.forward()

    async def healthy() -> bool:
        answers = await asyncio.gather(
            ask(origin, "image", cold),
            ask(origin, "usage", "/v1/usage", key=key),
            ask(origin, "upload", "/v1/images", method="POST", key=key, data=form(images.jpeg(color=(8, 8, 8)))),
        )
        return [answer.status for answer in answers] == [200, 200, 201] and answers[0].body == data

    seconds = await eventually(healthy, "media and API answer again without a restart", within=RECOVERY)
    received = bus.received

    async def subscribed() -> bool:
        await redis_client.publish(CHANNEL, json.dumps({"ids": [], "owners": []}))
        await asyncio.sleep(0.05)
        return bus.received > received

    resubscribed = await eventually(subscribed, "the invalidation subscriber hears Redis again", within=RECOVERY)
    print(
        f"redis {fault}: recovered {seconds:.2f}s after Redis came back, resubscribed by {seconds + resubscribed:.2f}s"
    )
    if stuck is not None:
        answer = await stuck
        print(f"redis {fault}: {answer}")
        assert answer.status in (200, 503), answer


# --- redis-server killed and restarted -------------------------------------------------------


async def test_redis_killed_and_restarted_during_uploads_and_fetches(
    killable_redis: RedisServer, aiohttp_client: AiohttpClient, settings: Settings, killable_client: Redis
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(settings, redis_url=killable_redis.url))
    key = await origin.user(plan="bulk")
    acknowledged: dict[str, bytes] = {}
    for n in range(3):
        data = images.jpeg(color=(n, 200, 200))
        acknowledged[await upload_ok(origin, key, data)] = data
    answers: list[tuple[float, Answer]] = []
    stop = asyncio.Event()
    counter = itertools.count()

    async def uploader() -> None:
        while not stop.is_set():
            n = next(counter)
            data = images.jpeg(size=(30 + n % 40, 30), color=(n % 256, 11, 22))
            answer = await ask(origin, f"upload {n}", "/v1/images", method="POST", key=key, data=form(data))
            answers.append((time.monotonic(), answer))
            if answer.status == 201:
                acknowledged[answer.media_path] = data
            else:
                await asyncio.sleep(0.05)

    async def fetcher(n: int) -> None:
        while not stop.is_set():
            path, data = list(acknowledged.items())[n % len(acknowledged)]
            n += 7
            answer = await ask(origin, f"GET {path}", path)
            answers.append((time.monotonic(), answer))
            if answer.status == 200 and answer.body != data:
                answer.what += " WITH WRONG BYTES"
            await asyncio.sleep(0.01)

    workers = [asyncio.create_task(uploader()) for _ in range(3)]
    workers += [asyncio.create_task(fetcher(n)) for n in range(2)]
    try:
        await asyncio.sleep(0.6)
        await asyncio.to_thread(killable_redis.kill)
        await asyncio.sleep(0.6)
        await asyncio.to_thread(killable_redis.start)
        restarted = time.monotonic()

        async def recovered() -> bool:
            late = [answer.status for at, answer in answers if at > restarted + 0.2]
            return 201 in late and 200 in late

        seconds = await eventually(recovered, "uploads and fetches succeed again after the restart", within=RECOVERY)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    statuses = [answer.status for _, answer in answers]
    print(f"{len(answers)} requests, recovered {seconds:.2f}s after the restart; 503s: {statuses.count(503)}")
    unexpected = [
        str(answer) for _, answer in answers if answer.status not in (200, 201, 503) or "WRONG" in answer.what
    ]
    assert not unexpected, unexpected
    assert 503 in statuses, "the kill was never felt: the test proves nothing"
    await check_nothing_lost(origin, killable_client, origin.app[STORAGE], origin.keys[key], acknowledged)
