"""GET/PATCH/DELETE /v1/images and listing: envelopes, isolation, cursors."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from origin.app_keys import REDIS
from origin.images import redis_keys as rk
from tests import images
from tests.conftest import Origin


async def _json(response: Any) -> dict[str, Any]:
    return dict(await response.json())


async def test_get_returns_the_same_view_as_the_upload(origin: Origin) -> None:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, images.png(), "p.png", tags='["a"]')
    response = await origin.client.get(f"/v1/images/{uploaded['id']}", headers=origin.auth(key))
    assert response.status == 200
    assert (await _json(response))["data"] == uploaded


async def test_another_users_image_is_404_for_every_verb(origin: Origin) -> None:
    alice, mallory = await origin.user(), await origin.user()
    image = await origin.upload_ok(alice, images.png(), isPublic="false")
    path = f"/v1/images/{image['id']}"
    for method, body in (("GET", None), ("PATCH", {"isPublic": True}), ("DELETE", None)):
        response = await origin.client.request(method, path, headers=origin.auth(mallory), json=body)
        assert response.status == 404, method
        assert (await _json(response))["error"]["code"] == "NOT_FOUND"
    listing = await _json(await origin.client.get("/v1/images", headers=origin.auth(mallory)))
    assert listing["data"]["items"] == []
    # Alice's image is untouched.
    mine = await _json(await origin.client.get(path, headers=origin.auth(alice)))
    assert mine["data"]["isPublic"] is False
    assert (await origin.client.get(f"/{image['id']}.png", headers=origin.auth(mallory))).status == 404


async def test_patch_changes_tags_and_visibility(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png(), tags='["old", "keep"]')
    path = f"/v1/images/{image['id']}"
    response = await origin.client.patch(
        path, json={"tags": ["Keep", "New"], "isPublic": False}, headers=origin.auth(key)
    )
    data = (await _json(response))["data"]
    assert response.status == 200
    assert data["tags"] == ["keep", "new"]
    assert data["isPublic"] is False
    by_tag = await _json(await origin.client.get("/v1/images?tag=old", headers=origin.auth(key)))
    assert by_tag["data"]["items"] == []
    by_new = await _json(await origin.client.get("/v1/images?tag=NEW", headers=origin.auth(key)))
    assert [i["id"] for i in by_new["data"]["items"]] == [image["id"]]
    assert (await origin.client.get(f"/{image['id']}.png")).status == 401
    await origin.client.patch(path, json={"isPublic": True}, headers=origin.auth(key))
    assert (await origin.client.get(f"/{image['id']}.png")).status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"{not json", "INVALID_JSON", id="bad-json"),
        pytest.param(b"[1,2]", "INVALID_JSON", id="array"),
        pytest.param(b'"x"', "INVALID_JSON", id="string"),
        pytest.param(b'{"isPublic": "yes"}', "VALIDATION_ERROR", id="isPublic-string"),
        pytest.param(b'{"tags": "a"}', "INVALID_TAGS", id="tags-string"),
        pytest.param(b'{"tags": [""]}', "INVALID_TAGS", id="empty-tag"),
        pytest.param(b'{"tags": [null]}', "INVALID_TAGS", id="null-tag"),
        pytest.param(b'{"owner": "me"}', "VALIDATION_ERROR", id="unknown-field"),
        pytest.param(b"\xff\xfe", "INVALID_JSON", id="not-utf8"),
    ],
)
async def test_bad_patch_bodies_are_400(origin: Origin, body: bytes, code: str) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    response = await origin.client.patch(
        f"/v1/images/{image['id']}", data=body, headers={**origin.auth(key), "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await _json(response))["error"]["code"] == code


async def test_delete_removes_record_object_and_quota_and_second_delete_is_404(any_origin: Origin) -> None:
    origin = any_origin
    key = await origin.user()
    image = await origin.upload_ok(key, images.jpeg(), tags='["x"]')
    path = f"/v1/images/{image['id']}"
    response = await origin.client.delete(path, headers=origin.auth(key))
    assert response.status == 200
    assert (await _json(response))["data"] == {"id": image["id"], "deleted": True}
    assert (await origin.client.get(path, headers=origin.auth(key))).status == 404
    assert (await origin.client.get(f"/{image['id']}.jpg")).status == 404
    usage = await _json(await origin.client.get("/v1/usage", headers=origin.auth(key)))
    assert usage["data"]["img_storage"]["usedBytes"] == 0
    from origin.app_keys import STORAGE

    assert await origin.app[STORAGE].size(f"{image['id']}.jpg") is None
    again = await origin.client.delete(path, headers=origin.auth(key))
    assert again.status == 404


async def test_deleted_ids_stay_reserved_forever(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    await origin.client.delete(f"/v1/images/{image['id']}", headers=origin.auth(key))
    redis = origin.app[REDIS]
    assert await redis.get(rk.owner(image["id"])) is not None


async def test_concurrent_double_delete_succeeds_exactly_once(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.jpeg())
    path = f"/v1/images/{image['id']}"
    responses = await asyncio.gather(*(origin.client.delete(path, headers=origin.auth(key)) for _ in range(8)))
    assert sorted(r.status for r in responses) == [200] + [404] * 7
    usage = await _json(await origin.client.get("/v1/usage", headers=origin.auth(key)))
    assert usage["data"]["img_storage"]["usedBytes"] == 0


async def test_listing_is_newest_first_with_an_opaque_cursor(origin: Origin) -> None:
    key = await origin.user()
    ids = [(await origin.upload_ok(key, images.png()))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = ""
    while True:
        page = await _json(await origin.client.get(f"/v1/images?limit=3&cursor={cursor}", headers=origin.auth(key)))
        seen += [item["id"] for item in page["data"]["items"]]
        cursor = page["data"]["nextCursor"]
        if cursor is None:
            break
        assert len(page["data"]["items"]) == 3
    assert seen == list(reversed(ids))


async def test_a_walk_under_concurrent_inserts_and_deletes_never_repeats_or_skips(origin: Origin) -> None:
    key = await origin.user()
    stable = [(await origin.upload_ok(key, images.png()))["id"] for _ in range(12)]
    doomed = [(await origin.upload_ok(key, images.png()))["id"] for _ in range(6)]
    rng = random.Random(7)
    seen: list[str] = []
    cursor = ""
    while True:
        page = await _json(await origin.client.get(f"/v1/images?limit=4&cursor={cursor}", headers=origin.auth(key)))
        seen += [item["id"] for item in page["data"]["items"]]
        # Between pages: new uploads and deletes of images other than the stable ones.
        await origin.upload_ok(key, images.png())
        if doomed:
            victim = doomed.pop(rng.randrange(len(doomed)))
            await origin.client.delete(f"/v1/images/{victim}", headers=origin.auth(key))
        cursor = page["data"]["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(stable) <= set(seen)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "limit=\u0661",
        "cursor=garbage",
        "cursor=!!!",
        "tag=" + "x" * 40,
    ],
)
async def test_bad_listing_parameters_are_400(origin: Origin, query: str) -> None:
    key = await origin.user()
    response = await origin.client.get(f"/v1/images?{query}", headers=origin.auth(key))
    assert response.status == 400
    assert (await _json(response))["success"] is False


async def test_usage_reports_plan_and_bytes(origin: Origin) -> None:
    key = await origin.user(plan="tiny")
    data = images.jpeg()
    await origin.upload_ok(key, data)
    usage = (await _json(await origin.client.get("/v1/usage", headers=origin.auth(key))))["data"]
    assert usage == {
        "plan": "tiny",
        "maxFileBytes": 200_000,
        "img_storage": {"usedBytes": len(data), "limitBytes": 300_000},
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nope"), ("PUT", "/v1/images"), ("GET", "/v1/images/short"), ("POST", "/v1/usage"), ("GET", "/x")],
)
async def test_unknown_paths_and_methods_get_json_errors(origin: Origin, method: str, path: str) -> None:
    key = await origin.user()
    response = await origin.client.request(method, path, headers=origin.auth(key))
    assert response.status in {404, 405}
    body = await _json(response)
    assert body["success"] is False
    assert body["error"]["code"] in {"NOT_FOUND", "METHOD_NOT_ALLOWED"}
