"""``/{id}.{ext}?w=N`` over real sockets, on both storage backends: formats, access, headers,
rendering once under concurrency and across instances, deletes, gc, quota, the render bound."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from config import Settings
from config.settings import with_overrides
from origin.app_keys import REDIS, STORAGE
from origin.images.gc import collect_garbage
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.origin.variants import pictures
from tests.origin.variants.test_render import assert_bare_webp
from tests.origin.web.test_metrics import value
from tests.polling import eventually

ALLOWED = "160, 320, 640, 1280, 1920"


def path_of(image: dict[str, Any], width: int | None = None) -> str:
    path = "/" + str(image["url"]).rsplit("/", 1)[1]
    return path if width is None else f"{path}?w={width}"


async def object_keys(origin: Origin, image_id: str) -> set[str]:
    return {info.key async for info in origin.app[STORAGE].list_objects() if info.key.startswith(image_id)}


async def renders(origin: Origin, width: int) -> float:
    text = await (await origin.client.get("/metrics")).text()
    try:
        return value(text, "picora_variant_renders_total", width=str(width))
    except AssertionError:
        return 0.0


FORMATS = [
    pytest.param(pictures.sideways_jpeg, (400, 800), (320, 640), id="jpeg-orientation-6-gps"),
    pytest.param(pictures.alpha_png, (400, 300), (320, 240), id="png-alpha"),
    pytest.param(pictures.animated_gif, (400, 300), (320, 240), id="animated-gif"),
    pytest.param(pictures.animated_webp, (400, 300), (320, 240), id="animated-webp"),
    pytest.param(pictures.avif, (400, 300), (320, 240), id="avif"),
    pytest.param(pictures.heic_with_location, (800, 600), (320, 240), id="heic-as-jpeg"),
]


@pytest.mark.parametrize(("make", "dimensions", "scaled"), FORMATS)
async def test_each_format_becomes_a_bare_webp_of_the_width(
    any_origin: Origin, make: Callable[[], bytes], dimensions: tuple[int, int], scaled: tuple[int, int]
) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, make())
    assert (image["width"], image["height"]) == dimensions
    response = await any_origin.client.get(path_of(image, 320))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "image/webp"
    body = await response.read()
    assert_bare_webp(body)
    assert Image.open(io.BytesIO(body)).size == scaled
    original = await any_origin.client.get(path_of(image))
    assert response.headers["ETag"] != original.headers["ETag"]


async def test_svg_serves_itself_for_every_width_and_reports_its_size(any_origin: Origin) -> None:
    key = await any_origin.user()
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 60"><rect width="10" height="10"/></svg>'
    image = await any_origin.upload_ok(key, svg)
    assert (image["width"], image["height"]) == (120, 60)
    original = await any_origin.client.get(path_of(image))
    for width in (160, 1920):
        response = await any_origin.client.get(path_of(image, width))
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert await response.read() == await original.read()
        assert response.headers["ETag"] == original.headers["ETag"]
        assert "sandbox" in response.headers["Content-Security-Policy"]
    assert not {key for key in await object_keys(any_origin, image["id"]) if ".w" in key}


async def test_an_svg_without_a_size_has_null_dimensions(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>')
    assert image["width"] is None
    assert image["height"] is None


async def test_dimensions_in_the_list_and_the_single_view(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, pictures.sideways_jpeg())
    single = await (await origin.client.get(f"/v1/images/{image['id']}", headers=origin.auth(key))).json()
    listed = await (await origin.client.get("/v1/images", headers=origin.auth(key))).json()
    assert (single["data"]["width"], single["data"]["height"]) == (400, 800)
    assert [(item["width"], item["height"]) for item in listed["data"]["items"]] == [(400, 800)]


async def test_never_wider_than_the_original(any_origin: Origin) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, pictures.noise_png((300, 200)))
    bodies = []
    for width in (320, 640, 1920):
        response = await any_origin.client.get(path_of(image, width))
        assert response.headers["Content-Type"] == "image/webp"
        body = await response.read()
        assert Image.open(io.BytesIO(body)).size == (300, 200)
        bodies.append((body, response.headers["ETag"]))
    assert bodies[0] == bodies[1] == bodies[2]  # one object serves every width from 320 up
    variants = {key for key in await object_keys(any_origin, image["id"]) if ".w" in key}
    assert variants == {f"{image['id']}.w320.webp"}


async def test_a_small_original_is_served_when_no_webp_beats_it(any_origin: Origin) -> None:
    key = await any_origin.user()
    original = pictures.tiny_gif()
    image = await any_origin.upload_ok(key, original)
    response = await any_origin.client.get(path_of(image, 640))
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert await response.read() == original
    plain = await any_origin.client.get(path_of(image))
    assert response.headers["ETag"] != plain.headers["ETag"]


@pytest.mark.parametrize(
    "query", ["w=0", "w=-1", "w=abc", "w=320&w=640", "w=" + "9" * 300, "w=", "w", "v=2&w=321", "w=1920.0"]
)
async def test_bad_widths_are_a_plain_text_400_naming_the_widths(origin: Origin, query: str) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, pictures.big_jpeg((800, 600)), isPublic="false")
    response = await origin.client.get(f"{path_of(image)}?{query}")
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert ALLOWED in await response.text()
    assert response.headers["Cache-Control"] == "no-store"


async def test_other_parameters_keep_their_meaning(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, pictures.big_jpeg((800, 600)))
    response = await origin.client.get(f"{path_of(image)}?v=2&w=160")
    assert response.status == 200
    assert Image.open(io.BytesIO(await response.read())).size == (160, 120)
    plain = await origin.client.get(f"{path_of(image)}?v=2")
    assert plain.headers["Content-Type"] == "image/jpeg"


async def test_headers_are_the_originals_with_a_strong_etag_of_their_own(
    aiohttp_client: AiohttpClient, any_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, any_settings)
    key = await origin.user()
    image = await origin.upload_ok(key, pictures.big_jpeg((800, 600)))
    original = await origin.client.get(path_of(image))
    response = await origin.client.get(path_of(image, 160))
    body = await response.read()
    headers = response.headers
    assert headers["ETag"].startswith('"')  # strong
    assert headers["ETag"] != original.headers["ETag"]
    for name in ("Last-Modified", "Cache-Control", "Surrogate-Key", "Cache-Tag", "Accept-Ranges"):
        assert headers[name] == original.headers[name], name
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "s-maxage" in headers["Cache-Control"]
    assert int(headers["Content-Length"]) == len(body)
    # Conditional and range requests, as for the original.
    again = await origin.client.get(path_of(image, 160), headers={"If-None-Match": headers["ETag"]})
    assert again.status == 304
    assert again.headers["ETag"] == headers["ETag"]
    assert again.headers["Surrogate-Key"] == headers["Surrogate-Key"]
    modified = await origin.client.get(path_of(image, 160), headers={"If-Modified-Since": headers["Last-Modified"]})
    assert modified.status == 304
    part = await origin.client.get(path_of(image, 160), headers={"Range": "bytes=0-9"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(body)}"
    assert await part.read() == body[:10]
    stale = await origin.client.get(path_of(image, 160), headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status == 200
    unsatisfiable = await origin.client.get(path_of(image, 160), headers={"Range": f"bytes={len(body)}-"})
    assert unsatisfiable.status == 416
    failed = await origin.client.get(path_of(image, 160), headers={"If-Match": original.headers["ETag"]})
    assert failed.status == 412
    head = await origin.client.head(path_of(image, 160))
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(body))
    # Another instance (or this one restarted) gives the same validator, and a 304 for it
    # without rendering again.
    other = await start_origin(aiohttp_client, any_settings)
    elsewhere = await other.client.get(path_of(image, 160))
    assert elsewhere.headers["ETag"] == headers["ETag"]
    assert await elsewhere.read() == body
    cold = await start_origin(aiohttp_client, any_settings)
    revalidated = await cold.client.get(path_of(image, 1280), headers={"If-None-Match": '"nope"'})
    assert revalidated.status == 200
    assert await renders(other, 160) == 0
    assert await renders(cold, 160) == 0


async def test_twenty_concurrent_requests_render_once(any_origin: Origin) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, pictures.big_jpeg((2000, 1500)))
    responses = await asyncio.gather(*(any_origin.client.get(path_of(image, 1280)) for _ in range(20)))
    bodies = {await response.read() for response in responses}
    assert [response.status for response in responses] == [200] * 20
    assert len(bodies) == 1
    assert await renders(any_origin, 1280) == 1


async def test_instances_render_once_between_them(aiohttp_client: AiohttpClient, any_settings: Settings) -> None:
    first = await start_origin(aiohttp_client, any_settings)
    second = await start_origin(aiohttp_client, any_settings)
    key = await first.user()
    image = await first.upload_ok(key, pictures.big_jpeg((2000, 1500)))
    requests = [origin.client.get(path_of(image, 1920)) for _ in range(10) for origin in (first, second)]
    responses = await asyncio.gather(*requests)
    assert [response.status for response in responses] == [200] * 20
    assert len({await response.read() for response in responses}) == 1
    assert await renders(first, 1920) + await renders(second, 1920) == 1


async def test_320_and_640_are_rendered_right_after_the_upload(any_origin: Origin) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, pictures.big_jpeg((2000, 1500)))

    async def stored() -> bool:
        keys = await object_keys(any_origin, image["id"])
        return {f"{image['id']}.w320.webp", f"{image['id']}.w640.webp"} <= keys

    await eventually(stored, "320 and 640 stored after the upload", within=10.0, interval=0.05)
    assert await renders(any_origin, 160) == 0
    response = await any_origin.client.get(path_of(image, 640))
    assert response.status == 200
    assert await renders(any_origin, 640) == 1


async def test_delete_removes_every_variant_and_quota_ignores_them(any_origin: Origin) -> None:
    key = await any_origin.user()
    large = await any_origin.upload_ok(key, pictures.big_jpeg((2000, 1500)))
    small = await any_origin.upload_ok(key, pictures.tiny_gif())
    usage = await (await any_origin.client.get("/v1/usage", headers=any_origin.auth(key))).json()
    used = usage["data"]["img_storage"]["usedBytes"]
    assert used == large["sizeBytes"] + small["sizeBytes"]
    for image in (large, small):
        for width in (160, 320, 640, 1280, 1920):
            assert (await any_origin.client.get(path_of(image, width))).status == 200
    assert len(await object_keys(any_origin, large["id"])) == 6  # the original and five variants
    assert f"{small['id']}.w160.gif" in await object_keys(any_origin, small["id"])
    usage = await (await any_origin.client.get("/v1/usage", headers=any_origin.auth(key))).json()
    assert usage["data"]["img_storage"]["usedBytes"] == used
    for image in (large, small):
        response = await any_origin.client.delete(f"/v1/images/{image['id']}", headers=any_origin.auth(key))
        assert response.status == 200
        assert await object_keys(any_origin, image["id"]) == set()
        assert (await any_origin.client.get(path_of(image, 320))).status == 404
    usage = await (await any_origin.client.get("/v1/usage", headers=any_origin.auth(key))).json()
    assert usage["data"]["img_storage"]["usedBytes"] == 0


async def test_gc_removes_variants_whose_image_is_gone(any_origin: Origin, tmp_path: Any) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, pictures.big_jpeg((800, 600)))
    assert (await any_origin.client.get(path_of(image, 160))).status == 200
    source = tmp_path / "leftover.webp"
    source.write_bytes(b"RIFF....WEBP")
    storage = any_origin.app[STORAGE]
    await storage.put_file("ZZZZZZZZZZZ.w320.webp", source, "image/webp")
    report = await collect_garbage(any_origin.app[REDIS], storage, grace_seconds=60, now=time.time() + 3600)
    assert report.orphans_deleted == 1
    assert await object_keys(any_origin, "ZZZZZZZZZZZ") == set()
    assert f"{image['id']}.w160.webp" in await object_keys(any_origin, image["id"])


async def test_private_variants_need_the_owner_or_a_signed_url(any_origin: Origin) -> None:
    key = await any_origin.user()
    image = await any_origin.upload_ok(key, pictures.big_jpeg((800, 600)), isPublic="false")
    stranger = await any_origin.user()
    anonymous = await any_origin.client.get(path_of(image, 160))
    assert anonymous.status == 401
    assert (await any_origin.client.get(path_of(image, 160), headers=any_origin.auth(stranger))).status == 404
    assert await renders(any_origin, 160) == 0  # refused before any rendering
    assert not {key for key in await object_keys(any_origin, image["id"]) if ".w160." in key}
    owner = await any_origin.client.get(path_of(image, 160), headers=any_origin.auth(key))
    assert owner.status == 200
    assert owner.headers["Cache-Control"] == "private, no-cache"
    assert owner.headers["Vary"] == "Authorization, Cookie"
    signed = await any_origin.client.post(f"/v1/images/{image['id']}/signed-url", headers=any_origin.auth(key))
    url = (await signed.json())["data"]["url"]
    local = "/" + url.split("/", 3)[3]
    by_signature = await any_origin.client.get(f"{local}&w=160")
    assert by_signature.status == 200
    assert by_signature.headers["Content-Type"] == "image/webp"
    assert "s-maxage" in by_signature.headers["Cache-Control"]
    assert await by_signature.read() == await owner.read()
    tampered = await any_origin.client.get(f"{local.replace('sig=', 'sig=A')}&w=160")
    assert tampered.status == 401
    unknown = await any_origin.client.get("/AAAAAAAAAAA.jpg?w=160")
    assert unknown.status == 404


async def test_hotlink_rules_apply_to_variants(origin: Origin) -> None:
    key = await origin.user()
    rules = {"enabled": True, "allowedDomains": ["example.com"], "allowEmptyReferer": False}
    assert (await origin.client.put("/v1/settings/hotlink", json=rules, headers=origin.auth(key))).status == 200
    image = await origin.upload_ok(key, pictures.big_jpeg((800, 600)))
    blocked = await origin.client.get(path_of(image, 160), headers={"Referer": "https://evil.example/"})
    assert blocked.status == 403
    allowed = await origin.client.get(path_of(image, 160), headers={"Referer": "https://example.com/a"})
    assert allowed.status == 200
    assert allowed.headers["Cache-Control"] == "public, no-cache"
    assert allowed.headers["Content-Type"] == "image/webp"


async def test_a_storm_past_the_render_bound_gets_503s_never_500s(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, render_threads=1, render_backlog=1))
    key = await origin.user()
    uploaded = [await origin.upload_ok(key, pictures.big_jpeg((2000, 1500))) for _ in range(4)]
    paths = [path_of(image, width) for image in uploaded for width in (160, 1280, 1920)]
    responses = await asyncio.gather(*(origin.client.get(path) for path in paths))
    statuses = [response.status for response in responses]
    assert set(statuses) <= {200, 503}
    assert 503 in statuses
    assert 200 in statuses
    for response in responses:
        if response.status == 503:
            assert response.headers["Retry-After"] == "1"
            assert response.headers["Cache-Control"] == "no-store"
    # Retried, every one succeeds.
    for path in paths:
        for _ in range(100):
            response = await origin.client.get(path)
            if response.status == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status == 200


async def test_metrics_count_renders_and_hits(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, pictures.big_jpeg((800, 600)))
    for _ in range(3):
        assert (await origin.client.get(path_of(image, 160))).status == 200
    text = await (await origin.client.get("/metrics")).text()
    assert value(text, "picora_variant_renders_total", width="160") == 1
    assert value(text, "picora_variant_render_seconds_count", width="160") == 1
    assert value(text, "picora_cache", cache="variant", stat="memory_hits") == 2


async def test_an_original_that_cannot_be_rendered_is_a_503_never_a_500(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    uploader = await start_origin(aiohttp_client, base_settings)
    key = await uploader.user()
    image = await uploader.upload_ok(key, images.jpeg((640, 480)))
    # An instance whose pixel limit was lowered since the upload refuses to decode it.
    strict = await start_origin(aiohttp_client, with_overrides(base_settings, max_image_pixels=1000))
    response = await strict.client.get(path_of(image, 160))
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "RENDER_FAILED"
    text = await (await strict.client.get("/metrics")).text()
    assert value(text, "picora_variant_render_failures_total", reason="refused") == 1
