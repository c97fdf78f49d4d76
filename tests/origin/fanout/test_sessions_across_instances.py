"""Two origin processes sharing one redis-server: a session signed in on one works on the other, and
signing out or revoking its key on one is refused by the other on the very next request."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from auth.api_keys import KeyStore
from tests.processes import Server
from tests.servers import free_port


def _env(redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    return env | {
        "PICORA_REDIS_URL": redis_url,
        "PICORA_DATA_DIR": str(data_dir),
        "PICORA_PORT": str(free_port()),
        "PICORA_ACCESS_LOG": "off",
        "PICORA_PUBLIC_URL": "http://127.0.0.1",
    }


@pytest.fixture
def pair(redis_url: str, redis_client: Redis, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    servers = [Server(_env(redis_url, tmp_path / "data")) for _ in range(2)]
    try:
        for server in servers:
            server.wait_healthy()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.DummyCookieJar()  # cookies go exactly where the test puts them
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _sign_in(http: aiohttp.ClientSession, server: Server, key: str) -> tuple[dict[str, str], str]:
    async with http.post(f"{server.base}/v1/sessions", json={"apiKey": key}) as response:
        assert response.status == 201, await response.text()
        csrf = (await response.json())["data"]["csrfToken"]
        return {"Cookie": f"picora_session={response.cookies['picora_session'].value}"}, csrf


async def _status(http: aiohttp.ClientSession, server: Server, headers: dict[str, str]) -> int:
    async with http.get(f"{server.base}/v1/usage", headers=headers) as response:
        return response.status


async def test_sign_out_and_key_revocation_reach_every_instance_at_once(
    pair: tuple[Server, Server], redis_client: Redis, http: aiohttp.ClientSession
) -> None:
    first, second = pair
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    key, other_key = await store.create_key("alice"), await store.create_key("alice")

    cookie, csrf = await _sign_in(http, first, key)
    assert await _status(http, second, cookie) == 200
    async with http.delete(f"{second.base}/v1/sessions/current", headers={**cookie, "X-CSRF-Token": csrf}) as response:
        assert response.status == 200
    assert await _status(http, first, cookie) == 401
    assert await _status(http, second, cookie) == 401

    cookie, _ = await _sign_in(http, second, other_key)
    bearer = {"Authorization": f"Bearer {key}"}
    async with http.get(f"{first.base}/v1/keys", headers=bearer) as response:
        items = (await response.json())["data"]["items"]
    other_id = next(item["id"] for item in items if other_key.startswith(item["prefix"].rstrip("…")))
    assert await _status(http, first, cookie) == 200
    async with http.delete(f"{first.base}/v1/keys/{other_id}", headers=bearer) as response:
        assert response.status == 200
    assert await _status(http, second, cookie) == 401
    assert await _status(http, second, {"Authorization": f"Bearer {other_key}"}) == 401
    assert await _status(http, second, bearer) == 200
