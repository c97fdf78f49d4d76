"""Images larger than the body cache's per-object limit are streamed from storage: exact bytes,
an honest failure when storage breaks (never a short response that looks complete), nothing
broken remembered, and a client that leaves releases the storage stream it was fed from."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from config import Settings
from config.settings import with_overrides
from origin.app_keys import BODIES
from tests.conftest import AiohttpClient, Origin, Server, plain_server, start_origin
from tests.faults import InstrumentedStorage, StreamCall, instrument
from tests.images import noise_png
from tests.polling import eventually

STREAM_LIMIT = 64 * 1024
LARGE = noise_png(320)  # ~300 KB: more than one of the backends' 256 KiB chunks


@pytest.fixture
async def streaming(aiohttp_client: AiohttpClient, any_settings: Settings) -> Origin:
    """An origin on each backend that streams anything over 64 KiB."""
    return await start_origin(aiohttp_client, with_overrides(any_settings, cache_max_object_bytes=STREAM_LIMIT))


async def _upload_large(origin: Origin) -> tuple[str, str]:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, LARGE)
    return f"/{uploaded['id']}.png", f"{uploaded['id']}.png"


async def _read_all(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    """The body and whether it arrived complete (all of Content-Length, no payload error)."""
    try:
        body = await response.read()
    except aiohttp.ClientPayloadError:
        return b"", False
    return body, len(body) == int(response.headers["Content-Length"])


async def test_a_large_image_streams_its_exact_bytes_from_storage(streaming: Origin) -> None:
    path, object_key = await _upload_large(streaming)
    storage = instrument(streaming)
    for _ in range(2):  # and is not cached: every GET streams
        response = await streaming.client.get(path)
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(LARGE))
        assert await response.read() == LARGE
    assert storage.reads == []
    assert storage.streams == [StreamCall(object_key, 0, len(LARGE) - 1)] * 2
    # The server may still be closing the second stream when the client has every byte.
    await eventually(lambda: storage.streams_finished == 2, "both storage streams were closed")
    assert storage.streams_exhausted == 2
    assert streaming.app[BODIES].cache.size_bytes == 0


@pytest.mark.parametrize(
    ("storage_kind", "header"),
    [("fs", None), ("fs", "bytes=1000-"), ("fs", "bytes=0-99,200000-"), ("s3", None)],
    ids=["fs-whole", "fs-range", "fs-multipart", "s3-whole"],
)
async def test_storage_breaking_mid_body_cuts_the_response_short_and_nothing_is_kept(
    streaming: Origin, header: str | None
) -> None:
    path, _ = await _upload_large(streaming)
    storage = instrument(streaming)
    storage.chunk_size = 32 * 1024
    storage.break_streams_after_chunks = 2
    headers = {"Range": header} if header else {}
    response = await streaming.client.get(path, headers=headers)
    assert response.status == (206 if header else 200)
    _, complete = await _read_all(response)
    assert not complete, "a broken storage read must not look like a complete response"
    await eventually(lambda: storage.streams_finished == len(storage.streams), "the broken stream was closed")
    storage.break_streams_after_chunks = None
    again = await streaming.client.get(path)
    assert (again.status, await again.read()) == (200, LARGE)
    assert storage.reads == []


@pytest.mark.parametrize("header", [None, "bytes=1000-"], ids=["whole", "range"])
@pytest.mark.parametrize("cause", ["storage-down", "object-missing"])
@pytest.mark.parametrize("side", [40, 320], ids=["small", "large"])
async def test_storage_failing_before_the_first_byte_is_a_503_whatever_the_size(
    aiohttp_client: AiohttpClient, base_settings: Settings, header: str | None, cause: str, side: int
) -> None:
    """Nothing has been sent yet, so the client (and a CDN with stale-if-error) can be told the
    truth with a 503 and Retry-After, as for a small image, rather than a 200 that breaks off."""
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, cache_max_object_bytes=STREAM_LIMIT))
    key = await origin.user()
    uploaded = await origin.upload_ok(key, noise_png(side))
    path, object_key = f"/{uploaded['id']}.png", f"{uploaded['id']}.png"
    storage = instrument(origin)
    if cause == "storage-down":
        storage.break_streams_after_chunks = 0
        storage.failing_reads = 1
    else:
        await storage.inner.delete(object_key)  # lost behind the app's back
    response = await origin.client.get(path, headers={"Range": header} if header else {})
    _, complete = await _read_all(response)
    assert response.status == 503
    assert complete
    assert response.headers["Retry-After"].isdigit()
    assert "no-store" in response.headers["Cache-Control"]


# --- clients that go away -------------------------------------------------------------------


@pytest.fixture(params=["test-server", "run-app-defaults"])
async def server(
    request: pytest.FixtureRequest, aiohttp_client: AiohttpClient, base_settings: Settings
) -> AsyncIterator[Server]:
    """The app behind aiohttp's test server (which cancels the handler of a client that leaves)
    or behind a plain AppRunner with ``web.run_app``'s defaults (which does not), as in production."""
    settings = with_overrides(base_settings, cache_max_object_bytes=STREAM_LIMIT)
    if request.param == "test-server":
        origin = await start_origin(aiohttp_client, settings)
        yield Server(origin.app, origin.client.session, origin.client.make_url("/"))
        return
    async with plain_server(settings) as server:
        yield server


def _instrument_app(app: web.Application) -> InstrumentedStorage:
    wrapper = InstrumentedStorage(app[BODIES].storage)
    app[BODIES].storage = wrapper
    return wrapper


# The long part comes first so that it is still streaming (held) when the client leaves.
@pytest.mark.parametrize("header", [None, "bytes=1000-,10-20"], ids=["whole", "multipart"])
async def test_a_client_that_disconnects_mid_download_releases_the_storage_stream(
    server: Server, header: str | None
) -> None:
    path = await server.upload(LARGE)
    storage = _instrument_app(server.app)
    storage.chunk_size = 16 * 1024
    storage.hold_streams_after_chunks = 1  # storage is slow after the first chunk
    response = await server.session.get(server.url(path), headers={"Range": header} if header else {})
    assert response.status in (200, 206)
    assert len(await response.content.readexactly(8)) == 8
    response.close()  # the client goes away mid-body
    storage.stream_gate.set()  # storage has more to give, but nobody to give it to
    await eventually(
        lambda: storage.streams_finished == len(storage.streams) and storage.streams_exhausted < len(storage.streams),
        "the storage stream the client left behind was closed",
    )
    # The server is fine: the next client gets the whole image.
    async with server.session.get(server.url(path)) as again:
        assert (again.status, await again.read()) == (200, LARGE)
