"""The fault tests' harness: timed requests, what a good answer to an outage looks like, reports,
and the nothing-lost ledger. The fixtures that put a fault proxy (``tests.fault_proxy``) between
the origin and the real redis-server or moto S3 server are beside it, in ``conftest.py``.

Every latency is measured around the whole request (``time.monotonic``); a request that gets no
answer within ``CLIENT_TIMEOUT`` counts as unanswered. Answers are printed, so a failing test shows
the latencies it saw.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from redis.asyncio import Redis
from yarl import URL

from auth.redis_types import text_dict
from config.plans import Plan
from origin.images.gc import collect_garbage
from origin.images.ids import parse_object_key
from origin.storage import ObjectStorage
from tests.conftest import TEST_PLANS, Origin
from tests.fault_proxy import FaultProxy

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
            # Variants (``<id>.wN.<ext>``) live beside their image's object and outside the quota.
            recorded_ids = {key.split(".", 1)[0] for key in self.records}
            orphans = sorted(
                key for key in self.objects if key not in self.records and not _variant_of(key, recorded_ids)
            )
            if orphans:
                problems.append(f"orphan objects left after gc: {orphans}")
        return problems


def _variant_of(key: str, image_ids: set[str]) -> bool:
    parsed = parse_object_key(key)
    return parsed is not None and parsed[1] is not None and parsed[0] in image_ids


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
