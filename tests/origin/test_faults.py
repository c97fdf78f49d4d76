"""Fault tolerance against real outages: a TCP proxy (``tests.fault_proxy``) between the origin and
the real redis-server or moto S3 server refuses, blackholes, resets, slows or cuts connections, and
one test SIGKILLs and restarts a redis-server of its own. Nothing is mocked.

What must hold:

- Redis unreachable or blackholed: cached public images are still served; what needs Redis (an
  uncached image, the API) answers 503 with Retry-After, quickly; private images fail closed once
  the metadata memo has expired; when Redis is back the origin recovers by itself.
- Object storage down, blackholed or slow: cached bodies are still served; the rest is a quick 503
  (Retry-After, no-store). A body cut mid-way reaches the client truncated, never short and
  complete-looking, and the next request after recovery is complete.
- Uploads during any of this never leave quota drift or a record without its object: the quota is
  the stored sizes plus pending reservations, and exactly the stored sizes once gc has run, with no
  orphan object left. The same holds when redis-server is SIGKILLed and restarted mid-run (its own
  instance, with an append-only file fsynced on every write), and the origin recovers by itself.
- A Redis reply lost after its command ran (the connection reset; redis-py then retries the
  command) must not charge an upload twice, report a stored upload as failed, or lose a delete.

Every latency is measured around the whole request (``time.monotonic``); a request that gets no
answer within ``CLIENT_TIMEOUT`` counts as unanswered. Answers are printed, so a failing test shows
the latencies it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis
from yarl import URL

from auth.redis_types import text_dict
from config import Settings
from config.plans import Plan
from config.purge import PurgeSettings
from config.settings import with_overrides
from origin.app_keys import INVALIDATION, STORAGE
from origin.fanout.invalidation import CHANNEL
from origin.images.gc import collect_garbage
from origin.storage import ObjectStorage
from origin.storage.s3 import S3Storage, open_s3_client
from tests import images
from tests.conftest import TEST_PLANS, AiohttpClient, Origin, s3_settings, start_origin
from tests.fault_proxy import FaultProxy
from tests.polling import eventually
from tests.servers import RedisServer, free_port

#: The metadata memo's lifetime here: short, so "after the TTL" comes quickly.
TTL = 0.5
#: A 503 must come within this many seconds (generous: the point is "bounded", not "fast").
BOUND = 10.0
#: The client gives up after this long; the request then counts as unanswered.
CLIENT_TIMEOUT = BOUND + 1.0
#: Once the fault is over, everything must work again within this many seconds, by itself.
RECOVERY = 5.0
#: "Slow" storage: every chunk held this long, longer than any sane per-request budget.
SLOW_SECONDS = 20.0
#: Objects above this are streamed from storage rather than cached.
STREAM_LIMIT = 64 * 1024
#: A plan whose rate limits never get in the way of a burst of uploads.
BULK = Plan("bulk", max_file_bytes=10**7, storage_bytes=10**9, uploads_per_minute=10**6, requests_per_minute=10**6)
PLANS = {**TEST_PLANS, "bulk": BULK}

FAULTS: dict[str, Callable[[FaultProxy], Awaitable[None]]] = {
    "down": FaultProxy.down,
    "blackhole": FaultProxy.blackhole,
    "reset": FaultProxy.reset,
    "slow": lambda proxy: proxy.delay(SLOW_SECONDS),
}


# --- requests, timed ----------------------------------------------------------------------------


@dataclass
class Answer:
    what: str
    status: int | None  # None: no answer within CLIENT_TIMEOUT
    headers: Mapping[str, str]
    body: bytes
    seconds: float

    def __str__(self) -> str:
        status = "no answer" if self.status is None else str(self.status)
        return f"{self.what}: {status} after {self.seconds:.2f}s"

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def media_path(self) -> str:
        """The media path of an uploaded image (from a 201's ``url``)."""
        return URL(self.json()["data"]["url"]).path


def form(data: bytes, **fields: str) -> aiohttp.FormData:
    upload = aiohttp.FormData()
    upload.add_field("file", data, filename="photo.bin", content_type="application/octet-stream")
    for name, value in fields.items():
        upload.add_field(name, value)
    return upload


async def ask(
    origin: Origin,
    what: str,
    path: str,
    *,
    method: str = "GET",
    key: str | None = None,
    data: aiohttp.FormData | None = None,
) -> Answer:
    headers = origin.auth(key) if key else {}
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    start = time.monotonic()
    try:
        async with origin.client.request(method, path, headers=headers, data=data, timeout=timeout) as response:
            body = await response.read()
            return Answer(what, response.status, response.headers, body, time.monotonic() - start)
    except TimeoutError:
        return Answer(what, None, {}, b"", time.monotonic() - start)


def unavailable_problems(answer: Answer) -> list[str]:
    """What is wrong with ``answer`` as a 503 for an outage (empty: nothing)."""
    if answer.status != 503:
        return [f"{answer}: expected 503"]
    problems = []
    if answer.seconds > BOUND:
        problems.append(f"{answer}: a 503 must come within {BOUND}s")
    with contextlib.suppress(ValueError):
        if answer.body and answer.json()["error"]["code"] != "SERVICE_UNAVAILABLE":
            problems.append(f"{answer}: error code {answer.json()['error']['code']}")
    if not answer.headers.get("Retry-After", "").isdigit():
        problems.append(f"{answer}: no Retry-After")
    if "no-store" not in answer.headers.get("Cache-Control", ""):
        problems.append(f"{answer}: Cache-Control {answer.headers.get('Cache-Control')!r}, not no-store")
    return problems


def served_problems(answer: Answer, data: bytes) -> list[str]:
    if answer.status != 200 or answer.body != data:
        return [f"{answer}: expected 200 with the image's {len(data)} bytes"]
    if answer.seconds > BOUND:
        return [f"{answer}: took longer than {BOUND}s"]
    return []


def report(title: str, answers: Sequence[Answer]) -> None:
    print(f"{title}: " + "; ".join(map(str, answers)))


async def upload_ok(origin: Origin, key: str, data: bytes, **fields: str) -> str:
    """Upload (the proxy in pass mode) and return the media path."""
    image = await origin.upload_ok(key, data, **fields)
    return f"/{image['id']}.{image['url'].rsplit('.', 1)[1]}"


# --- the nothing-lost ledger ------------------------------------------------------------------


@dataclass
class Ledger:
    """One user's quota counter, records and pending reservations in Redis, and what storage holds."""

    quota: int
    records: dict[str, int]  # object key -> size in the record
    pending: dict[str, int]  # image id -> reserved size
    objects: dict[str, int] = field(default_factory=dict)  # object key -> stored size

    def problems(self, *, after_gc: bool) -> list[str]:
        problems = []
        expected = sum(self.records.values()) + sum(self.pending.values())
        if self.quota != expected:
            problems.append(
                f"quota drift: quota:img_storage is {self.quota}, records {sum(self.records.values())}"
                f" + pending {sum(self.pending.values())} = {expected}"
            )
        for object_key, size in self.records.items():
            if self.objects.get(object_key) != size:
                problems.append(f"record {object_key} ({size} B) has stored object {self.objects.get(object_key)}")
        if after_gc:
            if self.pending:
                problems.append(f"reservations left after gc: {self.pending}")
            orphans = sorted(set(self.objects) - set(self.records))
            if orphans:
                problems.append(f"orphan objects left after gc: {orphans}")
        return problems


async def read_ledger(redis_client: Redis, storage: ObjectStorage, user: str) -> Ledger:
    quota = int(await redis_client.get(f"quota:img_storage:{{{user}}}") or 0)
    records = {}
    async for name in redis_client.scan_iter(match=f"img:{{{user}}}:*", count=1000):
        record = text_dict(await redis_client.hgetall(name))
        records[f"{record['id']}.{record['ext']}"] = int(record["size"])
    pending = {
        image_id: int(value.split(":")[0])
        for image_id, value in text_dict(await redis_client.hgetall(f"pending:{{{user}}}")).items()
    }
    objects = {info.key: info.size async for info in storage.list_objects()}
    return Ledger(quota, records, pending, objects)


async def check_nothing_lost(
    origin: Origin, redis_client: Redis, storage: ObjectStorage, user: str, acknowledged: Mapping[str, bytes]
) -> None:
    """The invariants, before and after gc; every acknowledged upload stored and served intact."""
    before = await read_ledger(redis_client, storage, user)
    problems = before.problems(after_gc=False)
    for path, data in acknowledged.items():
        if before.records.get(path.lstrip("/")) != len(data):
            problems.append(f"acknowledged upload {path} has no record of {len(data)} B")
    await collect_garbage(redis_client, storage, grace_seconds=0, now=time.time() + 1)
    after = await read_ledger(redis_client, storage, user)
    problems += [f"after gc: {problem}" for problem in after.problems(after_gc=True)]
    for path, data in acknowledged.items():
        answer = await ask(origin, f"GET {path}", path)
        problems += served_problems(answer, data)
    assert not problems, "\n".join(problems)


# --- fixtures ---------------------------------------------------------------------------------


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


# --- 1. Redis unreachable or blackholed -------------------------------------------------------


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


# --- 2. Object storage down, blackholed, slow, cut mid-body -----------------------------------


async def test_the_first_byte_bound_is_configurable(
    s3_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings, s3_bucket: str
) -> None:
    """``PICORA_S3_FIRST_BYTE_TIMEOUT``: a blackholed store answers 503 after that long, not after 6 s."""
    s3 = replace(s3_settings(f"http://{s3_proxy.address}", s3_bucket), first_byte_timeout_seconds=1.5)
    origin = await start_origin(aiohttp_client, with_overrides(settings, storage="s3", s3=s3))
    try:
        key = await origin.user(plan="bulk")
        path = await upload_ok(origin, key, images.noise_png(40, 34))
        await FAULTS["blackhole"](s3_proxy)
        answer = await ask(origin, "uncached image, store blackholed", path)
        assert not unavailable_problems(answer), unavailable_problems(answer)
        assert 1.4 < answer.seconds < 3.5, answer
    finally:
        await s3_proxy.forward()


@pytest.mark.parametrize("fault", ["down", "blackhole", "slow"])
async def test_storage_outage_cached_bodies_are_served_and_the_rest_gets_a_quick_503(
    s3_proxy: FaultProxy, s3_faulty: Origin, fault: str
) -> None:
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    cached_data, small_data, large_data = images.noise_png(40, 31), images.noise_png(40, 32), images.noise_png(200, 33)
    assert len(large_data) > STREAM_LIMIT > len(small_data)
    cached, small, large = [await upload_ok(origin, key, data) for data in (cached_data, small_data, large_data)]
    assert (await ask(origin, "warm-up", cached)).body == cached_data
    await FAULTS[fault](s3_proxy)
    hit, *misses = await asyncio.gather(
        ask(origin, "cached image", cached),
        ask(origin, "uncached small image", small),
        ask(origin, "uncached large (streamed) image", large),
    )
    report(f"storage {fault}", [hit, *misses])
    print(f"storage {fault}: worst 503 latency {max(answer.seconds for answer in misses):.2f}s")
    problems = served_problems(hit, cached_data)
    problems += [problem for answer in misses for problem in unavailable_problems(answer)]
    assert not problems, "\n".join(problems)


async def test_storage_cut_mid_body_truncates_a_streamed_image_and_the_next_request_is_complete(
    s3_proxy: FaultProxy, s3_faulty: Origin
) -> None:
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    large_data = images.noise_png(320, 41)  # ~300 KB: several chunks
    large = await upload_ok(origin, key, large_data)
    # The origin reads the first chunk before it answers (so a store failing at once is a clean
    # 503): slow the stream down, wait for the headers, then cut what is still to come.
    await s3_proxy.delay(0.1)
    response = await origin.client.get(large)
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(large_data))
    await s3_proxy.cut_after(0)
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    await s3_proxy.forward()
    again = await ask(origin, "the same image after recovery", large)
    problems = served_problems(again, large_data)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("cut", [1_000, 30_000, 120_000])
async def test_storage_cut_at_any_point_is_never_a_short_complete_answer(
    s3_proxy: FaultProxy, s3_faulty: Origin, cut: int
) -> None:
    """Cut before or after the origin answers: a clean 503 or a truncated 200, never bytes that
    look complete; the small (cacheable) image is read whole first, so it can only be a 503."""
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    medium_data, large_data = images.noise_png(140, 51), images.noise_png(320, 52)
    assert len(medium_data) < STREAM_LIMIT < len(large_data)
    medium, large = [await upload_ok(origin, key, data) for data in (medium_data, large_data)]
    await s3_proxy.cut_after(cut)
    medium_answer = await ask(origin, "cacheable image cut", medium)
    response = await origin.client.get(large)
    try:
        body = await response.read()
    except aiohttp.ClientPayloadError:
        body = None
    print(f"cut after {cut} B: {medium_answer}; streamed image {response.status}, truncated={body is None}")
    problems = [] if cut > len(medium_data) + 1000 else unavailable_problems(medium_answer)
    if response.status == 200 and body is not None:
        problems.append(f"streamed image cut after {cut} B: complete-looking 200 of {len(body)} B")
    elif response.status != 200:
        problems += unavailable_problems(Answer("streamed image", response.status, response.headers, b"", 0))
    await s3_proxy.forward()
    for path, data in ((medium, medium_data), (large, large_data)):
        problems += served_problems(await ask(origin, f"{path} after recovery", path), data)
    assert not problems, "\n".join(problems)


# --- 3. Uploads during faults: no quota drift, no record without its object ---------------------


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


# --- 4. redis-server killed and restarted -------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "own-redis"
    workdir.mkdir()
    with RedisServer(workdir, durable=True) as server:
        yield server


@pytest.fixture
async def own_redis_client(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(own_redis.url, decode_responses=True)
    yield client
    await client.aclose()


async def test_redis_killed_and_restarted_during_uploads_and_fetches(
    own_redis: RedisServer, aiohttp_client: AiohttpClient, settings: Settings, own_redis_client: Redis
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(settings, redis_url=own_redis.url))
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
        await asyncio.to_thread(own_redis.kill)
        await asyncio.sleep(0.6)
        await asyncio.to_thread(own_redis.start)
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
    await check_nothing_lost(origin, own_redis_client, origin.app[STORAGE], origin.keys[key], acknowledged)
