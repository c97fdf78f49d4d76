"""POST /v1/purge: signatures, replay window, malformed bodies, and what a purge reports."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from auth.webhook_signature import sign
from config import Settings
from config.purge import PurgeSettings
from config.settings import with_overrides
from origin.variants.widths import VARIANT_WIDTHS
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin

SECRET, OLD_SECRET = "p" * 40, "q" * 40


def with_variants(url: str) -> list[str]:
    """A purge names the image's URL and its variants' (``?w=N``)."""
    return [url, *(f"{url}?w={width}" for width in VARIANT_WIDTHS)]


@pytest.fixture
async def purge_origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    settings = with_overrides(base_settings, purge=PurgeSettings(secrets=(SECRET, OLD_SECRET)))
    return await start_origin(aiohttp_client, settings)


async def _purge(
    origin: Origin, body: Any, *, secret: str = SECRET, offset: float = 0, header: str | None = None
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signature = header if header is not None else sign(secret, int(time.time() + offset), raw)
    return await origin.client.post(
        "/v1/purge", data=raw, headers={"X-Picora-Signature": signature, "Content-Type": "application/json"}
    )


async def test_a_signed_purge_is_accepted_and_reports_what_it_purged(purge_origin: Origin) -> None:
    key = await purge_origin.user()
    image = await purge_origin.upload_ok(key, images.jpeg())
    response = await _purge(
        purge_origin, {"urls": [f"https://media.picora.me/{image['id']}.jpg?v=3"], "ids": [image["id"]]}
    )
    assert response.status == 202
    data = (await response.json())["data"]
    assert data["purged"] == {"ids": [image["id"]]}
    assert data["cdn"]["urls"] == with_variants(image["url"])
    assert data["cdn"]["queued"] is False  # no CDN configured
    assert any(tag.startswith("img-") for tag in data["cdn"]["tags"])


async def test_the_previous_secret_still_verifies_during_rotation(purge_origin: Origin) -> None:
    response = await _purge(purge_origin, {"ids": ["AAAAAAAAAAA"]}, secret=OLD_SECRET)
    assert response.status == 202


@pytest.mark.parametrize(
    ("variant", "kwargs"),
    [
        ("wrong-secret", {"secret": "w" * 40}),
        ("too-old", {"offset": -301}),
        ("from-the-future", {"offset": 302}),
        ("missing", {"header": ""}),
        ("no-v1", {"header": f"t={int(time.time())}"}),
        ("no-t", {"header": "v1=abcdef"}),
        ("garbage", {"header": "hello"}),
        ("t-not-a-number", {"header": "t=soon,v1=abcdef"}),
    ],
)
async def test_bad_signatures_are_401(purge_origin: Origin, variant: str, kwargs: dict[str, Any]) -> None:
    response = await _purge(purge_origin, {"ids": ["AAAAAAAAAAA"]}, **kwargs)
    assert response.status == 401, variant
    assert (await response.json())["error"]["code"] == "INVALID_SIGNATURE"
    assert "WWW-Authenticate" in response.headers


async def test_a_signature_over_another_body_is_401(purge_origin: Origin) -> None:
    header = sign(SECRET, int(time.time()), b'{"ids": ["BBBBBBBBBBB"]}')
    response = await _purge(purge_origin, {"ids": ["AAAAAAAAAAA"]}, header=header)
    assert response.status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"ids": "AAAAAAAAAAA"}',
        b'{"ids": [1]}',
        b'{"ids": ["short"]}',
        b'{"urls": ["https://media.picora.me/not-an-image"]}',
        b'{"ids": [], "urls": []}',
        b'{"paths": ["x"]}',
        json.dumps({"ids": ["AAAAAAAAAAA"] * 1001}).encode(),
    ],
)
async def test_malformed_bodies_are_400(purge_origin: Origin, body: bytes) -> None:
    response = await _purge(purge_origin, body)
    assert response.status == 400
    assert (await response.json())["success"] is False


async def test_purges_are_refused_when_no_secret_is_configured(origin: Origin) -> None:
    response = await _purge(origin, {"ids": ["AAAAAAAAAAA"]})
    assert response.status == 401
