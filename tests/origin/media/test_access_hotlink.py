"""Hotlink protection on the media path, including through conditional requests."""

from __future__ import annotations

from typing import Any

import pytest

from tests import images
from tests.conftest import Origin

RULES = {"enabled": True, "allowedDomains": ["example.com", "*.example.org"], "allowEmptyReferer": True}


async def _protected(origin: Origin, **rules: Any) -> tuple[str, str]:
    key = await origin.user()
    response = await origin.client.put("/v1/settings/hotlink", json={**RULES, **rules}, headers=origin.auth(key))
    assert response.status == 200, await response.text()
    image = await origin.upload_ok(key, images.jpeg())
    return key, f"/{image['id']}.jpg"


async def test_rules_default_to_off_and_round_trip(origin: Origin) -> None:
    key = await origin.user()
    default = await (await origin.client.get("/v1/settings/hotlink", headers=origin.auth(key))).json()
    assert default["data"] == {"enabled": False, "allowedDomains": [], "allowEmptyReferer": True}
    await origin.client.put("/v1/settings/hotlink", json=RULES, headers=origin.auth(key))
    stored = await (await origin.client.get("/v1/settings/hotlink", headers=origin.auth(key))).json()
    assert stored["data"] == RULES


@pytest.mark.parametrize("body", [b"[]", b"{", b'{"enabled": "on"}', b'{"allowedDomains": ["a b"]}', b'{"colour": 1}'])
async def test_bad_rules_are_400(origin: Origin, body: bytes) -> None:
    key = await origin.user()
    response = await origin.client.put(
        "/v1/settings/hotlink", data=body, headers={**origin.auth(key), "Content-Type": "application/json"}
    )
    assert response.status == 400


@pytest.mark.parametrize(
    ("referer", "status"),
    [
        ("https://example.com/post/1", 200),
        ("https://blog.example.org/", 200),
        ("https://example.org/", 403),
        ("https://evil.example/", 403),
        ("https://example.com.evil.example/", 403),
        (None, 200),
    ],
)
async def test_referers_are_allowed_or_blocked(origin: Origin, referer: str | None, status: int) -> None:
    _, path = await _protected(origin)
    headers = {"Referer": referer} if referer else {}
    response = await origin.client.get(path, headers=headers)
    assert response.status == status
    if status == 200:
        assert await response.read() == images.jpeg()
        # A CDN must ask again for every Referer: it may store, but must revalidate.
        assert response.headers["Cache-Control"] == "public, no-cache"
    else:
        body = await response.json()
        assert body["error"]["code"] == "HOTLINK_BLOCKED"
        assert "no-store" in response.headers["Cache-Control"]


async def test_empty_referer_can_be_refused(origin: Origin) -> None:
    _, path = await _protected(origin, allowEmptyReferer=False)
    assert (await origin.client.get(path)).status == 403
    assert (await origin.client.get(path, headers={"Referer": "https://example.com/"})).status == 200


async def test_a_blocked_referer_gets_403_not_304_even_when_revalidating(origin: Origin) -> None:
    _, path = await _protected(origin)
    etag = (await origin.client.get(path, headers={"Referer": "https://example.com/"})).headers["ETag"]
    blocked = await origin.client.get(path, headers={"Referer": "https://evil.example/", "If-None-Match": etag})
    assert blocked.status == 403
    allowed = await origin.client.get(path, headers={"Referer": "https://example.com/", "If-None-Match": etag})
    assert allowed.status == 304
    assert allowed.headers["Cache-Control"] == "public, no-cache"
    ranged = await origin.client.get(path, headers={"Referer": "https://evil.example/", "Range": "bytes=0-9"})
    assert ranged.status == 403


async def test_owner_credentials_and_signed_urls_bypass_the_rules(origin: Origin) -> None:
    key, path = await _protected(origin)
    evil = {"Referer": "https://evil.example/"}
    assert (await origin.client.get(path, headers={**evil, **origin.auth(key)})).status == 200
    image_id = path[1:12]
    signed = await (await origin.client.post(f"/v1/images/{image_id}/signed-url", headers=origin.auth(key))).json()
    url = signed["data"]["url"].split("media.picora.test", 1)[1]
    response = await origin.client.get(url, headers=evil)
    assert response.status == 200
    assert "s-maxage=" in response.headers["Cache-Control"]
    other = await origin.user()
    assert (await origin.client.get(path, headers={**evil, **origin.auth(other)})).status == 403


async def test_rules_apply_at_once_and_only_to_their_owner(origin: Origin) -> None:
    key, path = await _protected(origin)
    bystander = await origin.user()
    unprotected = await origin.upload_ok(bystander, images.png())
    evil = {"Referer": "https://evil.example/"}
    assert (await origin.client.get(f"/{unprotected['id']}.png", headers=evil)).status == 200
    assert (await origin.client.get(path, headers=evil)).status == 403
    await origin.client.put("/v1/settings/hotlink", json={"enabled": False}, headers=origin.auth(key))
    relaxed = await origin.client.get(path, headers=evil)
    assert relaxed.status == 200
    assert "s-maxage" in relaxed.headers["Cache-Control"]
