"""Session-scoped real servers (redis-server, moto S3) and a real origin per test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from redis.asyncio import Redis
from yarl import URL

from config import S3Settings, Settings
from config.plans import DEFAULT_PLANS, Plan
from config.settings import with_overrides
from origin.app import create_app
from origin.app_keys import KEYS, VARIANTS
from origin.storage.s3 import open_s3_client
from tests.servers import RedisServer, run_moto_server

AiohttpClient = Any  # pytest-aiohttp's factory fixture

TEST_PLANS = {
    **DEFAULT_PLANS,
    "tiny": Plan("tiny", max_file_bytes=200_000, storage_bytes=300_000),
    "limited": Plan("limited", 10**7, 10**8, uploads_per_minute=3, requests_per_minute=5),
}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with run_moto_server() as url:
        yield url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A client on a freshly emptied database, so every test starts from nothing."""
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


def s3_settings(endpoint: str, bucket: str) -> S3Settings:
    return S3Settings(
        bucket=bucket, endpoint_url=endpoint, region="us-east-1", access_key_id="testing", secret_access_key="testing"
    )


@pytest.fixture
async def s3_bucket(s3_endpoint: str) -> str:
    bucket = f"picora-{uuid.uuid4().hex[:12]}"
    async with open_s3_client(s3_settings(s3_endpoint, bucket)) as client:
        await client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def killable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, to kill and restart; acknowledged writes survive SIGKILL."""
    workdir = tmp_path / "killable-redis"
    workdir.mkdir()
    with RedisServer(workdir, durable=True) as server:
        yield server


@pytest.fixture
async def killable_client(killable_redis: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(killable_redis.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def base_settings(tmp_path: Path, redis_url: str, redis_client: Redis) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        redis_url=redis_url,
        media_base_url="https://media.picora.test",
        plans=TEST_PLANS,
    )


@pytest.fixture(params=["fs", "s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def any_settings(base_settings: Settings, storage_kind: str, s3_endpoint: str) -> Settings:
    """The settings for each storage backend in turn."""
    if storage_kind == "fs":
        return base_settings
    bucket = f"picora-{uuid.uuid4().hex[:12]}"
    s3 = s3_settings(s3_endpoint, bucket)
    async with open_s3_client(s3) as client:
        await client.create_bucket(Bucket=bucket)
    return with_overrides(base_settings, storage="s3", s3=s3)


@dataclass
class Origin:
    """A running origin on a real socket, with helpers that act like a user with curl."""

    client: TestClient[web.Request, web.Application]
    app: web.Application
    keys: dict[str, str] = field(default_factory=dict)

    async def user(self, name: str | None = None, plan: str = "free") -> str:
        """Create a user and return a new API key for it."""
        name = name or f"u{uuid.uuid4().hex[:10]}"
        await self.app[KEYS].ensure_user(name, plan)
        key = await self.app[KEYS].create_key(name)
        self.keys[key] = name
        return key

    async def upload(
        self,
        key: str | None,
        data: bytes,
        filename: str = "photo.bin",
        *,
        content_type: str = "application/octet-stream",
        **fields: str,
    ) -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        for name, value in fields.items():
            form.add_field(name, value)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.client.post("/v1/images", data=form, headers=headers)

    async def upload_ok(self, key: str, data: bytes, filename: str = "photo.bin", **fields: str) -> dict[str, Any]:
        response = await self.upload(key, data, filename, **fields)
        body = await response.json()
        assert response.status == 201, body
        # The upload's variants render in the background: let them finish, so that tests counting
        # storage reads or Redis commands afterwards count only their own.
        await self.app[VARIANTS].idle()
        return dict(body["data"])

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@dataclass
class Server:
    """An app on a real socket with a plain client session (no test-client conveniences)."""

    app: web.Application
    session: aiohttp.ClientSession
    base: URL

    def url(self, path: str) -> URL:
        return self.base.with_path(path)

    async def upload(self, data: bytes, user: str = "uploader") -> str:
        """Upload ``data`` as ``user`` (created if new) and return the image's media path."""
        await self.app[KEYS].ensure_user(user, "free")
        key = await self.app[KEYS].create_key(user)
        form = aiohttp.FormData()
        form.add_field("file", data, filename="upload.png", content_type="image/png")
        async with self.session.post(
            self.url("/v1/images"), data=form, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            assert response.status == 201
            return f"/{(await response.json())['data']['id']}.png"


@contextlib.asynccontextmanager
async def plain_server(settings: Settings) -> AsyncIterator[Server]:
    """The app behind a plain AppRunner with ``web.run_app``'s defaults, as in production: unlike
    aiohttp's test server, it does not cancel the handler of a client that leaves."""
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield Server(app, session, URL.build(scheme="http", host=host, port=port))
    finally:
        await runner.cleanup()


class ShippedTestServer(TestServer):
    """aiohttp's test server with the request handling production has.

    ``TestServer`` cancels a handler whose client goes away (``handler_cancellation=True``);
    ``web.run_app``, which ``picora-origin serve`` uses, does not. Test what ships.
    """

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        kwargs["handler_cancellation"] = False
        return await super()._make_runner(**kwargs)


async def start_origin(aiohttp_client: AiohttpClient, settings: Settings) -> Origin:
    app = create_app(settings)
    client = await aiohttp_client(ShippedTestServer(app))
    return Origin(client=client, app=app)


@pytest.fixture
async def origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    """The origin on the filesystem backend."""
    return await start_origin(aiohttp_client, base_settings)


@pytest.fixture
async def any_origin(aiohttp_client: AiohttpClient, any_settings: Settings) -> Origin:
    """The origin on each storage backend in turn."""
    return await start_origin(aiohttp_client, any_settings)
