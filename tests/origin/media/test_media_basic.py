"""GET|HEAD /{id}.{ext}: who may see what, with the headers the contract requires."""

from __future__ import annotations

import pytest

from tests import images
from tests.conftest import Origin


async def test_public_image_is_served_to_anyone_with_exact_headers(any_origin: Origin) -> None:
    origin = any_origin
    key = await origin.user()
    data = images.jpeg()
    image = await origin.upload_ok(key, data)
    response = await origin.client.get(f"/{image['id']}.jpg?v=2")
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["ETag"].startswith('"')
    assert not response.headers["ETag"].startswith("W/")
    assert await response.read() == data


async def test_head_has_the_headers_of_get_and_no_body(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    get = await origin.client.get(f"/{image['id']}.png")
    head = await origin.client.head(f"/{image['id']}.png")
    assert head.status == 200
    for name in ("Content-Type", "Content-Length", "ETag", "X-Content-Type-Options", "Cache-Control"):
        assert head.headers[name] == get.headers[name]
    assert await head.read() == b""


async def test_private_image_401_for_anonymous_200_for_owner_404_for_others(any_origin: Origin) -> None:
    origin = any_origin
    owner, other = await origin.user(), await origin.user()
    data = images.png()
    image = await origin.upload_ok(owner, data, isPublic="false")
    path = f"/{image['id']}.png"
    anonymous = await origin.client.get(path)
    assert anonymous.status == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    mine = await origin.client.get(path, headers=origin.auth(owner))
    assert mine.status == 200
    assert await mine.read() == data
    assert "no-store" in mine.headers["Cache-Control"] or "private" in mine.headers["Cache-Control"]
    assert (await origin.client.get(path, headers=origin.auth(other))).status == 404
    bad_key = await origin.client.get(path, headers={"Authorization": "Bearer sk_live_" + "x" * 32})
    assert bad_key.status == 401


@pytest.mark.parametrize("suffix", [".png", ".PNG", ".jpeg", ".txt", ".png.png", ""])
async def test_wrong_or_unknown_extension_is_404(origin: Origin, suffix: str) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.jpeg())
    response = await origin.client.get(f"/{image['id']}{suffix}")
    assert response.status == 404


@pytest.mark.parametrize("path", ["/AAAAAAAAAAA.jpg", "/short.jpg", "/AAAAAAAAAAAA.jpg", "/AAAA%2F.jpg"])
async def test_unknown_ids_are_404(origin: Origin, path: str) -> None:
    response = await origin.client.get(path)
    assert response.status == 404
    assert (await response.json())["success"] is False
