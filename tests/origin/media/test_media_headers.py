"""What a browser, a CDN and a shared cache see in the media path's headers: caching, privacy,
content sniffing, SVG sandboxing, HEAD parity and short-lived 404s."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from config import Settings
from config.settings import with_overrides
from origin.http_semantics import parse_entity_tag, parse_http_date
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.images import noise_png

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
#: Headers that legitimately differ between two responses of the same representation.
PER_MESSAGE = {"date", "server", "x-request-id"}

FORMATS: dict[str, tuple[Callable[[], bytes], str]] = {
    "jpeg": (images.jpeg, "image/jpeg"),
    "png": (images.png, "image/png"),
    "gif": (images.animated_gif, "image/gif"),
    "webp": (images.webp, "image/webp"),
    "svg": (lambda: SVG, "image/svg+xml"),
}


def cache_directives(value: str) -> dict[str, str | None]:
    directives: dict[str, str | None] = {}
    for item in value.split(","):
        name, _, argument = item.strip().partition("=")
        directives[name.lower()] = argument or None
    return directives


def vary(headers: CIMultiDictProxy[str]) -> set[str]:
    return {name.strip().lower() for value in headers.getall("Vary", []) for name in value.split(",")}


def forbids_shared_caches(headers: CIMultiDictProxy[str]) -> bool:
    directives = cache_directives(headers.get("Cache-Control", ""))
    return ("private" in directives or "no-store" in directives) and "public" not in directives


async def _path(origin: Origin, key: str, data: bytes, **fields: str) -> str:
    uploaded = await origin.upload_ok(key, data, **fields)
    return URL(uploaded["url"]).path


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_public_image_may_be_cached_by_cdn_and_browser_and_is_never_sniffed(origin: Origin, fmt: str) -> None:
    make, content_type = FORMATS[fmt]
    path = await _path(origin, await origin.user(), make())
    response = await origin.client.get(path)
    assert response.status == 200
    headers = response.headers
    assert headers["Content-Type"] == content_type
    directives = cache_directives(headers["Cache-Control"])
    # s-maxage already makes it storable by the CDN (RFC 9111 section 3): no redundant ``public``.
    assert "public" not in directives
    for seconds in ("max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"):
        assert (directives.get(seconds) or "").isdigit(), (seconds, headers["Cache-Control"])
    assert "private" not in directives
    assert "no-store" not in directives
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert parse_http_date(headers["Last-Modified"]) is not None
    etag = parse_entity_tag(headers["ETag"])
    assert etag is not None
    assert not etag.weak
    assert "authorization" not in vary(headers)
    assert headers.get("Surrogate-Key", "").startswith("img-")
    assert headers.get("Cache-Tag", "").startswith("img-")


@pytest.mark.parametrize("is_public", ["true", "false"])
async def test_svg_is_served_in_a_sandbox_that_loads_nothing(origin: Origin, is_public: str) -> None:
    owner = await origin.user()
    path = await _path(origin, owner, images.MALICIOUS_SVG, isPublic=is_public)
    for method in ("GET", "HEAD"):
        response = await origin.client.request(method, path, headers=origin.auth(owner))
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        policy = {item.strip() for item in response.headers["Content-Security-Policy"].split(";")}
        assert "sandbox" in policy
        assert "default-src 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture(params=["cached", "streamed"])
async def either_origin(
    request: pytest.FixtureRequest, aiohttp_client: AiohttpClient, base_settings: Settings
) -> Origin:
    settings = base_settings
    if request.param == "streamed":
        settings = with_overrides(base_settings, cache_max_object_bytes=16 * 1024)
    return await start_origin(aiohttp_client, settings)


@pytest.mark.parametrize("is_public", ["true", "false"])
async def test_head_has_every_header_of_get_and_no_body(either_origin: Origin, is_public: str) -> None:
    origin = either_origin
    owner = await origin.user()
    data = noise_png(100)  # ~30 KB: cached, or streamed past a 16 KiB limit
    path = await _path(origin, owner, data, isPublic=is_public)
    get = await origin.client.get(path, headers=origin.auth(owner))
    assert await get.read() == data
    head = await origin.client.head(path, headers=origin.auth(owner))
    assert head.status == 200
    assert await head.read() == b""
    shown = {name.lower(): value for name, value in get.headers.items() if name.lower() not in PER_MESSAGE}
    assert {name.lower(): value for name, value in head.headers.items() if name.lower() not in PER_MESSAGE} == shown
    assert shown["content-length"] == str(len(data))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"If-None-Match": "*"},
        {"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"},
        {"Range": "bytes=0-9"},
        {"Range": "bytes=0-9", "If-Range": "Sun, 01 Jan 2090 00:00:00 GMT"},
        {"If-Match": '"nope"'},
    ],
    ids=["plain", "if-none-match", "if-modified-since", "range", "if-range", "if-match"],
)
async def test_private_image_is_401_to_anonymous_whatever_the_conditions(
    origin: Origin, headers: dict[str, str]
) -> None:
    owner = await origin.user()
    path = await _path(origin, owner, images.png(), isPublic="false")
    mine = await origin.client.get(path, headers=origin.auth(owner))
    assert mine.status == 200
    conditions = {name: value.replace('"nope"', mine.headers["ETag"]) for name, value in headers.items()}
    for method in ("GET", "HEAD"):
        response = await origin.client.request(method, path, headers=conditions)
        assert response.status == 401, method
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "ETag" not in response.headers
        assert "Content-Range" not in response.headers
        assert forbids_shared_caches(response.headers)


async def test_owners_responses_to_a_private_image_are_never_for_shared_caches(origin: Origin) -> None:
    owner = await origin.user()
    data = images.png()
    path = await _path(origin, owner, data, isPublic="false")
    mine = origin.auth(owner)
    full = await origin.client.get(path, headers=mine)
    assert (full.status, await full.read()) == (200, data)
    etag = full.headers["ETag"]
    responses = {
        "200": full,
        "206": await origin.client.get(path, headers={**mine, "Range": "bytes=1-4"}),
        "304": await origin.client.get(path, headers={**mine, "If-None-Match": etag}),
        "HEAD": await origin.client.head(path, headers=mine),
        "HEAD 304": await origin.client.head(path, headers={**mine, "If-None-Match": etag}),
    }
    assert [response.status for response in responses.values()] == [200, 206, 304, 200, 304]
    for name, response in responses.items():
        assert forbids_shared_caches(response.headers), (name, response.headers.get("Cache-Control"))
        assert "s-maxage" not in response.headers["Cache-Control"], name
        assert "authorization" in vary(response.headers), name
        assert response.headers["ETag"] == etag, name


async def test_missing_images_are_404_with_a_short_cache_lifetime(origin: Origin) -> None:
    key = await origin.user()
    path = await _path(origin, key, images.jpeg())
    for missing in ("/AAAAAAAAAAA.jpg", path.replace(".jpg", ".png"), path.replace(".jpg", ".txt")):
        for method in ("GET", "HEAD"):
            response = await origin.client.request(method, missing)
            assert response.status == 404, missing
            directives = cache_directives(response.headers["Cache-Control"])
            lifetime = directives.get("s-maxage") or directives.get("max-age")
            assert "no-store" in directives or (lifetime is not None and int(lifetime) <= 300), directives


async def test_another_users_404_for_a_private_image_cannot_be_replayed_to_the_owner_by_a_cdn(origin: Origin) -> None:
    """The 404 hides the image from Mallory; a shared cache must not store it and then answer Alice
    (the owner, asking for the same URL with her own key) with it. Nor may the 404 differ from
    the one for an id that does not exist, or it would confirm the private image exists."""
    alice, mallory = await origin.user(), await origin.user()
    path = await _path(origin, alice, images.png(), isPublic="false")
    hidden = await origin.client.get(path, headers=origin.auth(mallory))
    absent = await origin.client.get("/AAAAAAAAAAA.png", headers=origin.auth(mallory))
    assert hidden.status == absent.status == 404
    assert await hidden.read() == await absent.read()
    for name in ("Cache-Control", "Vary", "Content-Type"):
        assert hidden.headers.get(name) == absent.headers.get(name), name
    assert forbids_shared_caches(hidden.headers) or "authorization" in vary(hidden.headers), dict(hidden.headers)
