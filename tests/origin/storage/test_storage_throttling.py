"""S3 throttling (503 SlowDown) is retried with backoff instead of failing the request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from config import Settings
from config.settings import with_overrides
from origin.storage.s3 import open_s3_client
from tests import images
from tests.conftest import AiohttpClient, s3_settings, start_origin
from tests.servers import free_port

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class ThrottlingS3:
    """A loopback HTTP proxy in front of moto that answers the first ``throttle`` GETs with SlowDown."""

    def __init__(self, upstream: str, throttle: int) -> None:
        self.upstream = upstream
        self.throttle = throttle
        self.throttled = 0
        self.forwarded_gets = 0
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "GET" and self.throttled < self.throttle and "." in request.path:
            self.throttled += 1
            return web.Response(status=503, body=SLOW_DOWN, content_type="application/xml")
        if request.method == "GET":
            self.forwarded_gets += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, self.upstream + request.path_qs, data=body, headers=headers) as upstream,
        ):
            payload = await upstream.read()
            keep = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in {"content-length", "transfer-encoding", "connection"}
            }
            return web.Response(status=upstream.status, body=payload, headers=keep)


@pytest.fixture
async def throttling_s3(s3_endpoint: str) -> AsyncIterator[ThrottlingS3]:
    proxy = ThrottlingS3(s3_endpoint, throttle=1)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", proxy.port).start()
    yield proxy
    await runner.cleanup()


async def test_a_throttled_read_is_retried_and_the_image_served(
    aiohttp_client: AiohttpClient,
    base_settings: Settings,
    s3_endpoint: str,
    throttling_s3: ThrottlingS3,
    tmp_path: Path,
) -> None:
    bucket = f"picora-{uuid.uuid4().hex[:12]}"
    async with open_s3_client(s3_settings(s3_endpoint, bucket)) as client:
        await client.create_bucket(Bucket=bucket)
    s3 = s3_settings(f"http://127.0.0.1:{throttling_s3.port}", bucket)
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, storage="s3", s3=s3))
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    # Count from here: the upload's background variant renders read storage too.
    throttling_s3.throttled = throttling_s3.forwarded_gets = 0
    response = await origin.client.get(f"/{image['id']}.png")
    assert response.status == 200
    assert await response.read() == images.png()
    assert throttling_s3.throttled == 1
    assert throttling_s3.forwarded_gets == 1
