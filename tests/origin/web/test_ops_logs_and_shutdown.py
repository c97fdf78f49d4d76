"""Operations: request ids, structured logs, graceful shutdown with requests in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import requests
from redis.asyncio import Redis

from auth.api_keys import KeyStore
from config import Settings
from config.settings import with_overrides
from origin.app_keys import SETTINGS, UPLOAD_SLOTS
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.fault_proxy import FaultProxy
from tests.polling import eventually
from tests.processes import Server
from tests.servers import free_port


async def test_a_sane_request_id_is_echoed_and_one_is_made_otherwise(origin: Origin) -> None:
    given = await origin.client.get("/healthz", headers={"X-Request-ID": "cdn-7f3a:42"})
    assert given.headers["X-Request-ID"] == "cdn-7f3a:42"
    made = await origin.client.get("/healthz")
    insane = await origin.client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    for response in (made, insane):
        assert len(response.headers["X-Request-ID"]) == 16
    assert made.headers["X-Request-ID"] != insane.headers["X-Request-ID"]
    missing = await origin.client.get("/AAAAAAAAAAA.png")
    assert missing.status == 404
    assert "X-Request-ID" in missing.headers


def _env(redis_url: str, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    return env | {
        "PICORA_REDIS_URL": redis_url,
        "PICORA_DATA_DIR": str(data),
        "PICORA_PORT": str(free_port()),
        **extra,
    }


@pytest.fixture
def json_server(redis_url: str, redis_client: Redis, tmp_path: Path) -> Iterator[Server]:
    server = Server(_env(redis_url, tmp_path / "data", PICORA_LOG_FORMAT="json"))
    server.wait_healthy()
    yield server
    server.stop()


async def test_json_logs_carry_the_request_id_and_never_the_key(json_server: Server, redis_client: Redis) -> None:
    store = KeyStore(redis_client)
    await store.ensure_user("logger", "free")
    key = await store.create_key("logger")
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        form.add_field("file", images.png(), filename="a.png")
        headers = {"Authorization": f"Bearer {key}", "X-Request-ID": "upload-123"}
        async with http.post(f"{json_server.base}/v1/images", data=form, headers=headers) as response:
            assert response.status == 201
            image_id = (await response.json())["data"]["id"]
    # The access line is written after the response went out: wait for it, not just for the first line.
    json_server.wait_for(r'"request_id": "upload-123".*"status": 201')
    lines = [json.loads(line) for line in json_server.output.splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["request_id"] == "upload-123"]
    access = [line for line in ours if line.get("status") == 201]
    assert access
    assert access[0]["method"] == "POST"
    assert access[0]["path"] == "/v1/images"
    assert any("user=logger" in line["message"] and image_id in line["message"] for line in ours)
    assert key not in json_server.output


def test_sigterm_finishes_requests_in_flight_then_exits_zero(
    redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    env = _env(redis_url, tmp_path / "data", PICORA_CACHE_MAX_OBJECT_BYTES="65536", PICORA_ACCESS_LOG="off")
    server = Server(env)
    server.wait_healthy()
    try:
        key = asyncio.run(_make_key(redis_url))
        big = images.noise_png(700)  # about 1.5 MB: streamed, not cached
        upload = requests.post(
            f"{server.base}/v1/images",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("big.png", big)},
            timeout=30,
        )
        assert upload.status_code == 201, upload.text
        url = f"{server.base}/{upload.json()['data']['id']}.png"
        with requests.get(url, stream=True, timeout=30) as download:
            received = bytearray(next(download.iter_content(64 * 1024)))
            server.process.send_signal(signal.SIGTERM)
            for chunk in download.iter_content(64 * 1024):
                received += chunk
        assert bytes(received) == big
        assert server.process.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.base}/healthz", timeout=2)
    finally:
        if server.process.poll() is None:
            server.stop()


async def _make_key(redis_url: str) -> str:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        store = KeyStore(client)
        await store.ensure_user("terminator", "free")
        return await store.create_key("terminator")
    finally:
        await client.aclose()


async def test_uploads_beyond_the_per_process_limit_get_503_and_the_others_finish(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, max_concurrent_uploads=2))
    key = await origin.user()
    release = asyncio.Event()
    boundary = "sl0w"

    async def slow_body() -> AsyncIterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
        await release.wait()
        yield images.png() + f"\r\n--{boundary}--\r\n".encode()

    headers = {**origin.auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    slow = [asyncio.create_task(origin.client.post("/v1/images", data=slow_body(), headers=headers)) for _ in range(2)]
    await eventually(origin.app[UPLOAD_SLOTS].locked, "both slow uploads inside the handler, holding the two slots")
    assert origin.app[UPLOAD_SLOTS].locked()
    refused = await origin.upload(key, images.png())
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "1"
    release.set()
    assert [(await task).status for task in slow] == [201, 201]
    assert (await origin.upload(key, images.png())).status == 201


async def test_readyz_names_the_dependency_that_is_down(
    aiohttp_client: AiohttpClient, base_settings: Settings, redis_url: str
) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    async with FaultProxy("127.0.0.1", port) as proxy:
        settings = with_overrides(base_settings, redis_url=f"redis://{proxy.address}/0")
        origin = await start_origin(aiohttp_client, settings)
        assert (await origin.client.get("/readyz")).status == 200
        await proxy.down()
        response = await origin.client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert response.headers["Retry-After"]
        assert set(body["error"]["unreachable"]) == {"redis"}
        assert (await origin.client.get("/healthz")).status == 200  # alive, just not ready
        await proxy.forward()
        assert (await origin.client.get("/readyz")).status == 200


async def test_oversized_headers_are_refused_with_400(origin: Origin) -> None:
    response = await origin.client.get("/healthz", headers={"X-Big": "a" * 9000})
    assert response.status == 400


async def test_an_upload_that_stalls_is_cut_off_with_408_and_frees_its_slot(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    settings = with_overrides(base_settings, upload_stall_seconds=0.5, max_concurrent_uploads=1)
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user()
    never = asyncio.Event()

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b'--st4ll\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + images.png()[:100]
        await never.wait()
        yield b""

    headers = {**origin.auth(key), "Content-Type": "multipart/form-data; boundary=st4ll"}
    response = await origin.client.post("/v1/images", data=stalled_body(), headers=headers)
    assert response.status == 408
    assert (await response.json())["error"]["code"] == "REQUEST_TIMEOUT"
    assert (await origin.upload(key, images.png())).status == 201  # the slot was given back
    assert not any(origin.app[SETTINGS].spool_dir.iterdir())


def test_a_client_trickling_headers_is_disconnected(redis_url: str, redis_client: Redis, tmp_path: Path) -> None:
    server = Server(_env(redis_url, tmp_path / "data", PICORA_KEEPALIVE_TIMEOUT="1", PICORA_ACCESS_LOG="off"))
    server.wait_healthy()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            closed = False
            for _ in range(20):  # the slow client: one header line every quarter second
                time.sleep(0.25)
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                    closed = conn.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
                except BlockingIOError:
                    continue  # still open, nothing to read yet
                except (ConnectionResetError, BrokenPipeError):
                    closed = True
                if closed:
                    break
            assert closed, "the server kept a connection whose headers never ended"
            assert time.monotonic() - started < 4
    finally:
        server.stop()
