"""The media path's in-process caches seen from outside: one storage read however many requests
miss at once, hits that touch neither storage nor Redis, failures never remembered, a client that
leaves not spoiling the load for the others, and this instance's own changes seen at once."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest
from redis.asyncio import Redis

from config import Settings
from config.settings import with_overrides
from origin.app import create_app
from origin.app_keys import BODIES, CATALOG, REDIS
from origin.images import redis_keys as rk
from origin.images.metadata import ImageRecord, MetadataRepository
from tests.conftest import AiohttpClient, Origin, plain_server, start_origin
from tests.faults import InstrumentedStorage, instrument
from tests.images import noise_png
from tests.polling import eventually


@pytest.fixture
async def origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    """The filesystem origin, with a metadata memo that cannot expire during a test."""
    return await start_origin(aiohttp_client, with_overrides(base_settings, metadata_ttl_seconds=600))


async def _upload(origin: Origin, data: bytes, **fields: str) -> tuple[str, str]:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, data, **fields)
    return key, f"/{uploaded['id']}.png"


async def _get(origin: Origin, path: str, **headers: str) -> tuple[int, bytes]:
    response = await origin.client.get(path, headers=headers)
    return response.status, await response.read()


def _waiting_on_storage(origin: Origin, storage: InstrumentedStorage) -> int:
    """Requests now waiting for a whole read: the one doing it plus those that joined it."""
    return len(storage.reads) + origin.app[BODIES].flights.joins


async def test_concurrent_misses_cause_exactly_one_storage_read(origin: Origin) -> None:
    data = noise_png(60)
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    storage.read_gate.clear()  # hold the read until every request is waiting for it
    requests = [asyncio.create_task(_get(origin, path)) for _ in range(20)]
    await eventually(lambda: _waiting_on_storage(origin, storage) >= 20, "20 requests waiting on storage")
    storage.read_gate.set()
    assert await asyncio.gather(*requests) == [(200, data)] * 20
    assert len(storage.reads) == 1
    hits = origin.app[BODIES].cache.hits
    assert await _get(origin, path) == (200, data)
    assert len(storage.reads) == 1
    assert origin.app[BODIES].cache.hits == hits + 1


async def _record_reads(redis: Redis) -> dict[str, int]:
    """How many times the server ran each command that could read an image record or rules."""
    stats = await redis.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("get", "hgetall", "hmget", "mget")}


async def test_a_hit_is_served_without_storage_or_redis(origin: Origin, redis_client: Redis) -> None:
    data = noise_png(50)
    key, path = await _upload(origin, data)
    assert await _get(origin, path) == (200, data)
    storage = instrument(origin)
    # Behind the app's back, the record disappears from Redis: a hit must not notice.
    image_id = path[1:12]
    assert await redis_client.delete(rk.image(origin.keys[key], image_id), rk.owner(image_id)) == 2
    before = await _record_reads(redis_client)
    for _ in range(3):
        assert await _get(origin, path) == (200, data)
    assert await _record_reads(redis_client) == before
    assert storage.reads == []
    assert storage.streams == []
    # Proof that Redis was the source before: once the memo is gone, the image is gone too.
    origin.app[CATALOG].clear()
    status, _ = await _get(origin, path)
    assert status == 404
    assert await _record_reads(redis_client) != before


async def test_a_failed_storage_read_is_a_503_and_is_not_remembered(origin: Origin) -> None:
    data = noise_png(50)
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    storage.failing_reads = 1
    response = await origin.client.get(path)
    assert response.status == 503
    assert response.headers["Retry-After"].isdigit()
    assert "no-store" in response.headers["Cache-Control"]
    assert await _get(origin, path) == (200, data)
    assert len(storage.reads) == 2


async def test_concurrent_waiters_on_a_failed_read_all_get_503_and_the_next_request_succeeds(origin: Origin) -> None:
    data = noise_png(50)
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    storage.failing_reads = 1
    storage.read_gate.clear()
    requests = [asyncio.create_task(_get(origin, path)) for _ in range(5)]
    await eventually(lambda: _waiting_on_storage(origin, storage) >= 5, "5 requests waiting on storage")
    storage.read_gate.set()
    assert [status for status, _ in await asyncio.gather(*requests)] == [503] * 5
    assert await _get(origin, path) == (200, data)
    assert len(storage.reads) == 2


async def test_a_short_read_is_a_503_and_is_never_cached(origin: Origin) -> None:
    data = noise_png(50)
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    storage.short_read_bytes = len(data) // 2
    status, _ = await _get(origin, path)
    assert status == 503
    for _ in range(2):
        assert await _get(origin, path) == (200, data)
    assert len(storage.reads) == 2


def _open_connections(origin: Origin) -> int:
    runner = origin.client.server.runner
    assert runner is not None
    assert runner.server is not None
    return len(runner.server.connections)


@pytest.fixture
async def cancelling_origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    """The origin on aiohttp's own test server, which cancels the handler of a client that leaves.

    Production (``web.run_app``) does not, and every other test runs that way (``ShippedTestServer``);
    but a waiter can still be cancelled from outside (a deployment that turns cancellation on, a
    timeout around the handler), and the shared load must survive it.
    """
    app = create_app(base_settings)
    return Origin(client=await aiohttp_client(app), app=app)


async def test_a_client_that_goes_away_does_not_cancel_the_load_for_the_others(cancelling_origin: Origin) -> None:
    origin = cancelling_origin
    data = noise_png(60)
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    storage.read_gate.clear()
    requests = [asyncio.create_task(_get(origin, path)) for _ in range(5)]
    await eventually(lambda: _waiting_on_storage(origin, storage) >= 5, "5 requests waiting on storage")
    connections = _open_connections(origin)
    requests[0].cancel()  # the client gives up: its connection is closed mid-load
    with pytest.raises(asyncio.CancelledError):
        await requests[0]
    # The server has noticed (the test server cancels a handler whose client went away).
    await eventually(lambda: _open_connections(origin) < connections, "the server saw the disconnect")
    storage.read_gate.set()
    assert await asyncio.gather(*requests[1:]) == [(200, data)] * 4
    assert len(storage.reads) == 1
    assert await _get(origin, path) == (200, data)  # and the body was cached for the next one
    assert len(storage.reads) == 1


async def test_making_a_cached_image_private_takes_effect_at_once(origin: Origin) -> None:
    data = noise_png(50)
    key, path = await _upload(origin, data)
    assert await _get(origin, path) == (200, data)  # now in the metadata memo and the body cache
    api = f"/v1/images/{path[1:12]}"
    patched = await origin.client.patch(api, json={"isPublic": False}, headers=origin.auth(key))
    assert patched.status == 200
    anonymous = await origin.client.get(path)
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    owner = await origin.client.get(path, headers=origin.auth(key))
    assert (owner.status, await owner.read()) == (200, data)
    assert "private" in owner.headers["Cache-Control"]
    patched = await origin.client.patch(api, json={"isPublic": True}, headers=origin.auth(key))
    assert patched.status == 200
    public = await origin.client.get(path)
    assert (public.status, await public.read()) == (200, data)
    assert "s-maxage" in public.headers["Cache-Control"]


async def test_deleting_a_cached_image_takes_effect_at_once(origin: Origin) -> None:
    data = noise_png(50)
    key, path = await _upload(origin, data)
    status, _ = await _get(origin, path)
    assert status == 200
    etag = (await origin.client.head(path)).headers["ETag"]
    deleted = await origin.client.delete(f"/v1/images/{path[1:12]}", headers=origin.auth(key))
    assert deleted.status == 200
    for method, headers in (
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"If-None-Match": etag}),
        ("GET", {"Range": "bytes=0-1"}),
    ):
        response = await origin.client.request(method, path, headers=headers)
        assert response.status == 404, (method, headers)
    assert origin.app[BODIES].cache.size_bytes == 0  # the bytes are not kept around either


class HeldMetadata(MetadataRepository):
    """The real repository on the real Redis, whose media-path lookups can be held after reading."""

    def __init__(self, origin: Origin) -> None:
        super().__init__(origin.app[REDIS])
        self.read = asyncio.Event()
        self.gate = asyncio.Event()

    async def get(self, image_id: str) -> ImageRecord | None:
        record = await super().get(image_id)
        self.read.set()
        await self.gate.wait()
        return record


async def test_a_change_made_while_a_lookup_is_in_flight_still_takes_effect_at_once(origin: Origin) -> None:
    """A lookup that read the record just before a PATCH must not put the old record back in the
    memo (or hand it to requests that arrive after the PATCH) for the rest of the TTL."""
    data = noise_png(50)
    key, path = await _upload(origin, data)
    held = HeldMetadata(origin)
    origin.app[CATALOG].metadata = held
    before = asyncio.create_task(_get(origin, path))  # reads "public", then is held
    await held.read.wait()
    patched = await origin.client.patch(f"/v1/images/{path[1:12]}", json={"isPublic": False}, headers=origin.auth(key))
    assert patched.status == 200
    flights = origin.app[CATALOG].entries.flights
    after = asyncio.create_task(_get(origin, path))  # sent once the PATCH has been answered
    await eventually(lambda: flights.loads + flights.joins == 2, "the second request reached the catalog")
    held.gate.set()
    status, _ = await before
    assert status in (200, 401)  # concurrent with the change: either answer is fine
    assert (await after)[0] == 401, "a request sent after the PATCH was answered saw the image as public"
    assert (await _get(origin, path))[0] == 401, "the memo kept the record from before the PATCH"


async def test_the_body_cache_holds_at_most_cache_bytes_and_evicts_the_least_recently_used(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    settings = with_overrides(base_settings, cache_bytes=100_000, cache_max_object_bytes=64 * 1024)
    origin = await start_origin(aiohttp_client, settings)
    data = noise_png(100)  # ~30 KB: three fit in 100 KB, four do not
    key = await origin.user()
    paths = {name: f"/{(await origin.upload_ok(key, data))['id']}.png" for name in "abcd"}
    storage = instrument(origin)
    for name in "abcad":  # a is used again before d arrives, so b is the least recently used
        assert await _get(origin, paths[name]) == (200, data)
    assert await _get(origin, paths["b"]) == (200, data)  # evicted, so read again (evicting c)
    assert await _get(origin, paths["a"]) == (200, data)  # still cached
    assert [paths[name][1:] for name in "abcdb"] == storage.reads
    cache = origin.app[BODIES].cache
    assert cache.evictions == 2
    assert cache.size_bytes <= 100_000


async def test_a_large_cached_body_goes_out_whole_with_its_headers(origin: Origin) -> None:
    """A body far larger than a socket's buffers, from the cache, with every header once."""
    data = noise_png(400)  # about 480 KB
    assert len(data) > 256 * 1024
    _, path = await _upload(origin, data)
    storage = instrument(origin)
    for _ in range(2):
        response = await origin.client.get(path, headers={"X-Request-ID": "large-1"})
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(data))
        assert response.headers["X-Request-ID"] == "large-1"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert await response.read() == data
    assert len(storage.reads) == 1  # the second answer came from the body cache
    head = await origin.client.head(path)
    assert head.headers["Content-Length"] == str(len(data))
    assert await head.read() == b""


async def test_a_client_that_leaves_during_a_large_cached_body_is_not_an_error(
    base_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a plain runner (as in production, the handler is not cancelled when the client
    leaves), a reset mid-body ends that response quietly and the next client is served."""
    data = noise_png(1200)  # ~4.3 MB: more than loopback's socket buffers take at once
    async with plain_server(base_settings) as server:
        path = await server.upload(data)
        async with server.session.get(server.url(path)) as warm:  # now in the body cache
            assert await warm.read() == data
        for _ in range(3):
            reader, writer = await asyncio.open_connection(server.base.host, server.base.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            # Reset rather than close: the server's next write fails at once.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        async with server.session.get(server.url(path)) as again:
            assert (again.status, await again.read()) == (200, data)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
