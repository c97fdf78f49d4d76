"""Per-user token buckets for the API (uploads apart from the rest); the media path is never limited."""

from __future__ import annotations

import asyncio

from tests import images
from tests.conftest import Origin


async def test_concurrent_api_calls_over_the_plan_rate_get_429_with_retry_after(origin: Origin) -> None:
    key = await origin.user(plan="limited")  # 5 requests and 3 uploads per minute
    responses = await asyncio.gather(*(origin.client.get("/v1/usage", headers=origin.auth(key)) for _ in range(12)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 5 + [429] * 7
    for response in responses:
        if response.status == 429:
            body = await response.json()
            assert body["error"]["code"] == "RATE_LIMITED"
            assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_uploads_have_their_own_bucket(origin: Origin) -> None:
    key = await origin.user(plan="limited")
    for _ in range(5):
        await origin.client.get("/v1/usage", headers=origin.auth(key))
    assert (await origin.client.get("/v1/usage", headers=origin.auth(key))).status == 429
    statuses = [(await origin.upload(key, images.png())).status for _ in range(4)]
    assert statuses == [201, 201, 201, 429]


async def test_limits_are_per_user(origin: Origin) -> None:
    busy, calm = await origin.user(plan="limited"), await origin.user(plan="limited")
    for _ in range(6):
        await origin.client.get("/v1/usage", headers=origin.auth(busy))
    assert (await origin.client.get("/v1/usage", headers=origin.auth(calm))).status == 200


async def test_the_media_path_is_not_rate_limited(origin: Origin) -> None:
    key = await origin.user(plan="limited")
    image = await origin.upload_ok(key, images.png(), isPublic="false")
    responses = await asyncio.gather(
        *(origin.client.get(f"/{image['id']}.png", headers=origin.auth(key)) for _ in range(20))
    )
    assert {r.status for r in responses} == {200}
