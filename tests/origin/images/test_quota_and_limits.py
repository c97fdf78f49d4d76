"""Plan limits: 413 for large files (early, from Content-Length or while streaming) and an exact quota."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from origin.app_keys import REDIS, SETTINGS
from origin.images import redis_keys as rk
from tests.conftest import Origin
from tests.images import noise_png


async def _stored_total(origin: Origin, user: str) -> int:
    redis = origin.app[REDIS]
    total = 0
    async for key in redis.scan_iter(match=f"img:{{{user}}}:*"):
        total += int(await redis.hget(key, "size") or 0)
    return total


async def test_file_over_plan_limit_is_413_from_content_length(origin: Origin) -> None:
    key = await origin.user(plan="tiny")
    response = await origin.upload(key, noise_png(300, 1))  # ~270 KB > 200 KB
    body = await response.json()
    assert response.status == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body["error"]["maxFileBytes"] == 200_000


async def test_file_over_plan_limit_is_413_while_streaming_without_content_length(origin: Origin) -> None:
    key = await origin.user(plan="tiny")
    boundary = "s7r3am"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n').encode()

    async def chunked() -> AsyncIterator[bytes]:
        yield head
        for _ in range(40):  # 40 x 16 KB = 640 KB, more than the 200 KB limit
            yield os.urandom(16 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**origin.auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await origin.client.post("/v1/images", data=chunked(), headers=headers)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    spool = origin.app[SETTINGS].spool_dir
    assert not any(spool.iterdir())


async def test_huge_declared_length_is_refused_before_the_body_is_sent(origin: Origin) -> None:
    key = await origin.user(plan="tiny")
    server = origin.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        (
            "POST /v1/images HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: multipart/form-data; boundary=zz\r\n"
            "Content-Length: 10000000000\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_parallel_uploads_admit_exactly_what_fits_the_quota(any_origin: Origin) -> None:
    origin = any_origin
    key = await origin.user(plan="tiny")  # 300,000 bytes of storage
    files = [noise_png(140, seed) for seed in range(10)]  # each ~59 KB
    size = len(files[0])
    assert all(len(f) == size for f in files)
    responses = await asyncio.gather(*(origin.upload(key, data) for data in files))
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 300_000 // size
    refusals = [await r.json() for r in responses if r.status == 403]
    assert refusals
    for refusal in refusals:
        assert refusal["error"]["code"] == "QUOTA_EXCEEDED"
        assert refusal["error"]["quota"] == "img_storage"
        assert "img_storage" in refusal["error"]["message"]
    user = origin.keys[key]
    redis = origin.app[REDIS]
    assert int(await redis.get(rk.quota(user)) or 0) == statuses.count(201) * size == await _stored_total(origin, user)
    assert await redis.hlen(rk.pending(user)) == 0


async def test_storm_of_uploads_and_deletes_leaves_quota_equal_to_stored_bytes(any_origin: Origin) -> None:
    origin = any_origin
    key = await origin.user()
    user = origin.keys[key]
    seeded = [await origin.upload_ok(key, noise_png(20 + i, i)) for i in range(6)]

    async def delete(image_id: str) -> int:
        return (await origin.client.delete(f"/v1/images/{image_id}", headers=origin.auth(key))).status

    async def upload(data: bytes) -> int:
        return (await origin.upload(key, data)).status

    tasks = [upload(noise_png(30 + i, 100 + i)) for i in range(10)]
    tasks += [delete(image["id"]) for image in seeded for _ in range(2)]  # double deletes too
    statuses = await asyncio.gather(*tasks)
    assert sorted(statuses) == [200] * 6 + [201] * 10 + [404] * 6
    redis = origin.app[REDIS]
    assert int(await redis.get(rk.quota(user)) or 0) == await _stored_total(origin, user)
    assert await redis.hlen(rk.pending(user)) == 0
    listing = await (await origin.client.get("/v1/images?limit=100", headers=origin.auth(key))).json()
    assert len(listing["data"]["items"]) == 10
