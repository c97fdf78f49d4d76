"""Several origin processes sharing one redis-server and one storage: changes reach all of them.

The metadata TTL is set to a minute here, so only the pub/sub fan-out can explain an eviction
within the one-second bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from auth.api_keys import KeyStore
from auth.webhook_signature import sign
from origin.fanout.cdn_purge import QUEUE_KEY
from origin.variants.widths import VARIANT_WIDTHS
from tests import images
from tests.polling import eventually
from tests.processes import Server
from tests.servers import free_port

SECRET = "p" * 40
BOUND_SECONDS = 1.0


def with_variants(url: str) -> list[str]:
    """A purge names the image's URL and its variants' (``?w=N``)."""
    return [url, *(f"{url}?w={width}" for width in VARIANT_WIDTHS)]


def origin_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    return env | {
        "PICORA_REDIS_URL": redis_url,
        "PICORA_DATA_DIR": str(data_dir),
        "PICORA_PORT": str(free_port()),
        "PICORA_ACCESS_LOG": "off",
        "PICORA_METADATA_TTL": "60",
        "PICORA_PURGE_SECRETS": SECRET,
        "PICORA_MEDIA_BASE_URL": "https://media.picora.test",
        **extra,
    }


def start(env: dict[str, str]) -> Server:
    server = Server(env)
    server.wait_healthy()
    return server


@pytest.fixture
def pair(redis_url: str, redis_client: Redis, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two origin processes: same Redis, same storage directory, different ports."""
    data = tmp_path / "data"
    first = start(origin_env(redis_url, data))
    second = start(origin_env(redis_url, data))
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _key(redis_client: Redis) -> str:
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    return await store.create_key("alice")


async def _upload(http: aiohttp.ClientSession, server: Server, key: str, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="x.png")
    async with http.post(f"{server.base}/v1/images", data=form, headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 201
        return dict((await r.json())["data"])


async def _status_and_body(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as response:
        return response.status, await response.read()


async def _seconds_until(http: aiohttp.ClientSession, url: str, want: tuple[int, bytes | None]) -> float:
    """How long until ``url`` answers ``want`` (status, and body unless None); fails past 5 s."""

    async def answers() -> bool:
        status, body = await _status_and_body(http, url)
        return status == want[0] and (want[1] is None or body == want[1])

    return await eventually(answers, f"{url} answers {want[0]}", within=5.0, interval=0.02)


async def test_a_switch_to_private_reaches_every_instance_within_a_second(
    pair: tuple[Server, Server], redis_client: Redis, http: aiohttp.ClientSession
) -> None:
    first, second = pair
    key = await _key(redis_client)
    image = await _upload(http, first, key, images.png())
    path = f"/{image['id']}.png"
    for server in pair:  # both instances now hold the image in their caches
        assert (await _status_and_body(http, server.base + path))[0] == 200
    async with http.patch(
        f"{first.base}/v1/images/{image['id']}", json={"isPublic": False}, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        assert response.status == 200
    assert (await _status_and_body(http, first.base + path))[0] == 401
    assert await _seconds_until(http, second.base + path, (401, None)) <= BOUND_SECONDS


async def test_a_delete_reaches_every_instance_within_a_second(
    pair: tuple[Server, Server], redis_client: Redis, http: aiohttp.ClientSession
) -> None:
    first, second = pair
    key = await _key(redis_client)
    image = await _upload(http, first, key, images.png())
    path = f"/{image['id']}.png"
    assert (await _status_and_body(http, second.base + path))[0] == 200
    async with http.delete(f"{first.base}/v1/images/{image['id']}", headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200
    assert await _seconds_until(http, second.base + path, (404, None)) <= BOUND_SECONDS


async def test_a_webhook_purge_evicts_every_instance_within_a_second(
    pair: tuple[Server, Server], redis_client: Redis, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    first, second = pair
    key = await _key(redis_client)
    original = images.png()
    image = await _upload(http, first, key, original)
    path = f"/{image['id']}.png"
    assert (await _status_and_body(http, second.base + path))[1] == original
    # The object changes underneath, in storage, with the same length: only eviction can show it.
    stored = tmp_path / "data" / "objects" / image["id"][:2] / f"{image['id']}.png"
    replacement = bytes(reversed(original))
    stored.write_bytes(replacement)
    assert (await _status_and_body(http, second.base + path))[1] == original
    body = json.dumps({"urls": [f"https://media.picora.test{path}?v=9"]}).encode()
    headers = {"X-Picora-Signature": sign(SECRET, int(time.time()), body)}
    async with http.post(f"{first.base}/v1/purge", data=body, headers=headers) as response:
        assert response.status == 202
    assert await _seconds_until(http, second.base + path, (200, replacement)) <= BOUND_SECONDS


class FakeCdn:
    """A CDN purge endpoint on loopback: checks signatures, fails the first ``failures`` calls."""

    def __init__(self, port: int, failures: int = 0) -> None:
        self.port = port
        self.failures = failures
        self.calls = 0
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        t, _, v1 = request.headers["X-Picora-Signature"].partition(",v1=")
        expected = hmac.new(SECRET.encode(), f"{t[2:]}.".encode() + raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, v1)
        self.calls += 1
        if self.calls <= self.failures:
            return web.Response(status=503)
        self.received.append(json.loads(raw))
        self.arrived.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/purge", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def _queue_is(redis_client: Redis, depth: int) -> bool:
    return int(await redis_client.zcard(QUEUE_KEY)) == depth


async def _attempted(redis_client: Redis) -> bool:
    jobs = await redis_client.zrange(QUEUE_KEY, 0, -1)
    return bool(jobs) and all(json.loads(str(job))["attempts"] >= 1 for job in jobs)


def cdn_env(redis_url: str, data: Path, port: int) -> dict[str, str]:
    return origin_env(
        redis_url,
        data,
        PICORA_CDN_PURGE="webhook",
        PICORA_CDN_PURGE_URL=f"http://127.0.0.1:{port}/purge",
        PICORA_CDN_RETRY_BASE_SECONDS="0.2",
    )


async def test_deletes_and_switches_to_private_are_purged_at_the_cdn_with_retries(
    redis_url: str, redis_client: Redis, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    cdn = FakeCdn(free_port(), failures=2)
    await cdn.start()
    server = await asyncio.to_thread(start, cdn_env(redis_url, tmp_path / "data", cdn.port))
    try:
        key = await _key(redis_client)
        auth = {"Authorization": f"Bearer {key}"}
        doomed = await _upload(http, server, key, images.png())
        async with http.delete(f"{server.base}/v1/images/{doomed['id']}", headers=auth) as response:
            assert response.status == 200
        await asyncio.wait_for(cdn.arrived.wait(), timeout=10)
        assert cdn.calls == 3  # two refusals, retried with backoff, then delivered
        assert cdn.received[0]["urls"] == with_variants(doomed["url"])
        assert f"img-{doomed['id']}" in cdn.received[0]["tags"]
        cdn.arrived.clear()
        hidden = await _upload(http, server, key, images.jpeg())
        async with http.patch(f"{server.base}/v1/images/{hidden['id']}", json={"tags": ["x"]}, headers=auth) as r:
            assert r.status == 200  # a tag change keeps the bytes: no purge
        async with http.patch(f"{server.base}/v1/images/{hidden['id']}", json={"isPublic": False}, headers=auth) as r:
            assert r.status == 200
        await asyncio.wait_for(cdn.arrived.wait(), timeout=10)
        assert [job["urls"] for job in cdn.received] == [with_variants(doomed["url"]), with_variants(hidden["url"])]
        await eventually(lambda: _queue_is(redis_client, 0), "the purge queue is empty", interval=0.05)
    finally:
        await asyncio.to_thread(server.stop)
        await cdn.stop()


async def test_queued_purges_survive_an_origin_restart(
    redis_url: str, redis_client: Redis, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens here yet: the CDN is down
    env = cdn_env(redis_url, tmp_path / "data", port)
    server = await asyncio.to_thread(start, env)
    key = await _key(redis_client)
    image = await _upload(http, server, key, images.png())
    async with http.delete(f"{server.base}/v1/images/{image['id']}", headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200
    await eventually(lambda: _attempted(redis_client), "the queued purge was attempted", interval=0.05)
    jobs = await redis_client.zrange(QUEUE_KEY, 0, -1)
    assert len(jobs) == 1
    assert json.loads(str(jobs[0]))["attempts"] >= 1
    await asyncio.to_thread(server.stop)
    cdn = FakeCdn(port)
    await cdn.start()
    restarted = await asyncio.to_thread(start, env)
    try:
        await asyncio.wait_for(cdn.arrived.wait(), timeout=15)
        assert cdn.received[0]["urls"] == with_variants(image["url"])
    finally:
        await asyncio.to_thread(restarted.stop)
        await cdn.stop()
