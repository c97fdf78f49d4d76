"""Signed URLs for private images, through their whole life, over real HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from auth.signed_urls import signed_query
from config import Settings
from config.credentials import AccessSettings
from config.settings import with_overrides
from origin.app_keys import SIGNING_KEYS
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin


async def _private_image(origin: Origin) -> tuple[str, dict[str, str]]:
    key = await origin.user()
    return key, await origin.upload_ok(key, images.png(), isPublic="false")


async def _sign(origin: Origin, key: str, image_id: str, **body: object) -> tuple[int, dict[str, object]]:
    response = await origin.client.post(
        f"/v1/images/{image_id}/signed-url", json=body or None, headers=origin.auth(key)
    )
    return response.status, await response.json()


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_a_signed_url_serves_a_private_image_to_anyone_and_caches_only_while_valid(origin: Origin) -> None:
    key, image = await _private_image(origin)
    status, body = await _sign(origin, key, image["id"], expiresIn=600)
    assert status == 200
    data = body["data"]
    assert isinstance(data, dict)
    url = str(data["url"])
    assert url.startswith(f"https://media.picora.test/{image['id']}.png?")
    expires_at = datetime.strptime(str(data["expiresAt"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert 600 <= expires_at - time.time() <= 600 + 300 + 5
    response = await origin.client.get(_local(url))
    assert response.status == 200
    assert await response.read() == images.png()
    cache_control = response.headers["Cache-Control"]
    s_maxage = int(re.search(r"s-maxage=(\d+)", cache_control).group(1))  # type: ignore[union-attr]
    assert s_maxage <= expires_at - time.time() + 1
    assert "stale" not in cache_control
    assert "public" not in cache_control  # s-maxage makes it storable; ``public`` would add nothing
    # Conditional requests through a signed URL keep the signed caching rules.
    revalidation = await origin.client.get(_local(url), headers={"If-None-Match": response.headers["ETag"]})
    assert revalidation.status == 304
    assert revalidation.headers["Cache-Control"].startswith("max-age=")


async def test_signing_twice_within_the_window_yields_the_same_url(origin: Origin) -> None:
    key, image = await _private_image(origin)
    first = (await _sign(origin, key, image["id"]))[1]["data"]
    second = (await _sign(origin, key, image["id"]))[1]["data"]
    assert first == second


async def test_only_the_owner_can_sign(origin: Origin) -> None:
    _, image = await _private_image(origin)
    other = await origin.user()
    assert (await _sign(origin, other, image["id"]))[0] == 404
    response = await origin.client.post(f"/v1/images/{image['id']}/signed-url")
    assert response.status == 401


@pytest.mark.parametrize("expires_in", [0, -5, 7 * 86400 + 1, "60", 1.5, True, None])
async def test_bad_expiries_are_400(origin: Origin, expires_in: object) -> None:
    key, image = await _private_image(origin)
    response = await origin.client.post(
        f"/v1/images/{image['id']}/signed-url", json={"expiresIn": expires_in}, headers=origin.auth(key)
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_tampered_signed_urls_are_401(origin: Origin) -> None:
    key, image = await _private_image(origin)
    url = _local(str((await _sign(origin, key, image["id"]))[1]["data"]["url"]))  # type: ignore[index]
    path, query = url.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    _, other = await _private_image(origin)
    tampered = {
        "signature": f"{path}?exp={params['exp']}&sig={'B' if params['sig'][0] == 'A' else 'A'}{params['sig'][1:]}",
        "expiry": f"{path}?exp={int(params['exp']) + 300}&sig={params['sig']}",
        "other-id": f"/{other['id']}.png?{query}",
        "other-extension": f"{path.replace('.png', '.jpg')}?{query}",
        "signature-missing": f"{path}?exp={params['exp']}",
    }
    for name, target in tampered.items():
        response = await origin.client.get(target)
        assert response.status == 401, name
        assert (await response.json())["error"]["code"] == "INVALID_SIGNATURE", name


async def test_an_expired_signed_url_is_401(origin: Origin) -> None:
    _, image = await _private_image(origin)
    path = f"/{image['id']}.png"
    expired = int(time.time()) - 1
    response = await origin.client.get(f"{path}?{signed_query(origin.app[SIGNING_KEYS][0], path, expired)}")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "SIGNATURE_EXPIRED"


async def test_a_signed_url_stops_working_once_it_expires(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    settings = with_overrides(base_settings, access=AccessSettings(signed_url_window_seconds=1))
    origin = await start_origin(aiohttp_client, settings)
    key, image = await _private_image(origin)
    url = _local(str((await _sign(origin, key, image["id"], expiresIn=1))[1]["data"]["url"]))  # type: ignore[index]
    assert (await origin.client.get(url)).status == 200
    await asyncio.sleep(2.1)
    assert (await origin.client.get(url)).status == 401


async def test_rotated_keys_verify_until_the_old_key_is_removed(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    old, new = "o" * 40, "n" * 40
    before = await start_origin(
        aiohttp_client, with_overrides(base_settings, access=AccessSettings(signing_keys=(old,)))
    )
    key, image = await _private_image(before)
    url = _local(str((await _sign(before, key, image["id"]))[1]["data"]["url"]))  # type: ignore[index]
    during = await start_origin(
        aiohttp_client, with_overrides(base_settings, access=AccessSettings(signing_keys=(new, old)))
    )
    assert (await during.client.get(url)).status == 200
    fresh = _local(str((await _sign(during, key, image["id"]))[1]["data"]["url"]))  # type: ignore[index]
    assert fresh != url
    after = await start_origin(
        aiohttp_client, with_overrides(base_settings, access=AccessSettings(signing_keys=(new,)))
    )
    assert (await after.client.get(url)).status == 401
    assert (await after.client.get(fresh)).status == 200


async def test_without_configured_keys_every_instance_shares_one_generated_key(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    first = await start_origin(aiohttp_client, base_settings)
    second = await start_origin(aiohttp_client, base_settings)
    key, image = await _private_image(first)
    url = _local(str((await _sign(first, key, image["id"]))[1]["data"]["url"]))  # type: ignore[index]
    assert (await second.client.get(url)).status == 200
