"""Conditional GET/HEAD on the media path over real HTTP (RFC 9110 section 13.2.2 order).

Step 1 If-Match (strong), else step 2 If-Unmodified-Since; step 3 If-None-Match (weak), else
step 4 If-Modified-Since; only then Range. A 304 repeats the validators, the caching headers and
the purge tags, and carries no body; all of it is decided from metadata, never from storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from multidict import CIMultiDictProxy

from config import Settings
from config.settings import with_overrides
from origin.http_semantics import format_http_date, parse_http_date
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.faults import instrument
from tests.images import noise_png

#: Headers a 304 must repeat from the 200 (RFC 9110 section 15.4.5), plus the CDN purge tags.
KEPT_ON_304 = ("ETag", "Cache-Control", "Last-Modified", "Surrogate-Key", "Cache-Tag")


@dataclass(frozen=True)
class Image:
    path: str
    data: bytes
    etag: str
    last_modified: int
    headers: CIMultiDictProxy[str]


async def _image(origin: Origin, data: bytes) -> Image:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, data)
    path = f"/{uploaded['id']}.png"
    response = await origin.client.get(path)
    assert response.status == 200
    assert await response.read() == data
    last_modified = parse_http_date(response.headers["Last-Modified"])
    assert last_modified is not None
    return Image(path, data, response.headers["ETag"], last_modified, response.headers)


def _fill(template: dict[str, str], image: Image) -> dict[str, str]:
    values = {
        "etag": image.etag,
        "weak": "W/" + image.etag,
        "lm": format_http_date(image.last_modified),
        "lm-1": format_http_date(image.last_modified - 1),
        "lm+1": format_http_date(image.last_modified + 1),
    }
    return {name: value.format(**values) for name, value in template.items()}


# (headers, expected status); {etag}, {weak}, {lm}, {lm-1}, {lm+1} are filled in per image.
CASES: list[tuple[dict[str, str], int]] = [
    # Step 1: If-Match, strong comparison; a malformed value cannot match.
    ({"If-Match": "{etag}"}, 200),
    ({"If-Match": "*"}, 200),
    ({"If-Match": '"nope", {etag}'}, 200),
    ({"If-Match": '"nope"'}, 412),
    ({"If-Match": "{weak}"}, 412),
    ({"If-Match": "not-a-tag"}, 412),
    # Step 2: If-Unmodified-Since, only without If-Match; an invalid date is ignored.
    ({"If-Unmodified-Since": "{lm}"}, 200),
    ({"If-Unmodified-Since": "{lm+1}"}, 200),
    ({"If-Unmodified-Since": "{lm-1}"}, 412),
    ({"If-Unmodified-Since": "yesterday"}, 200),
    ({"If-Match": "{etag}", "If-Unmodified-Since": "{lm-1}"}, 200),
    # Step 3: If-None-Match, weak comparison; 304 for GET and HEAD.
    ({"If-None-Match": "{etag}"}, 304),
    ({"If-None-Match": "{weak}"}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"a", "b", {etag}'}, 304),
    ({"If-None-Match": '"nope"'}, 200),
    # Step 4: If-Modified-Since, only without If-None-Match.
    ({"If-Modified-Since": "{lm}"}, 304),
    ({"If-Modified-Since": "{lm+1}"}, 304),
    ({"If-Modified-Since": "{lm-1}"}, 200),
    ({"If-Modified-Since": "garbage"}, 200),
    ({"If-None-Match": '"nope"', "If-Modified-Since": "{lm}"}, 200),
    ({"If-None-Match": "{etag}", "If-Modified-Since": "{lm-1}"}, 304),
    # The order of the steps: a failed step 1 or 2 wins over a 304 from step 3 or 4.
    ({"If-Match": '"nope"', "If-None-Match": "{etag}"}, 412),
    ({"If-Unmodified-Since": "{lm-1}", "If-None-Match": "{etag}"}, 412),
    ({"If-Unmodified-Since": "{lm-1}", "If-Modified-Since": "{lm}"}, 412),
    ({"If-Match": "{etag}", "If-None-Match": "{etag}"}, 304),
    # Preconditions come before Range (step 5): no 206 when a 304 or 412 is due.
    ({"If-None-Match": "{etag}", "Range": "bytes=0-9"}, 304),
    ({"If-Match": '"nope"', "Range": "bytes=0-9"}, 412),
]


def _case_id(case: tuple[dict[str, str], int]) -> str:
    headers, expected = case
    return " ".join(f"{name}:{value}" for name, value in headers.items()) + f" -> {expected}"


@pytest.mark.parametrize(("template", "expected"), CASES, ids=[_case_id(case) for case in CASES])
async def test_preconditions_follow_rfc9110_order(origin: Origin, template: dict[str, str], expected: int) -> None:
    image = await _image(origin, noise_png(40))
    for method in ("GET", "HEAD"):
        response = await origin.client.request(method, image.path, headers=_fill(template, image))
        body = await response.read()
        assert response.status == expected, method
        if expected == 200:
            assert body == (image.data if method == "GET" else b"")
            assert response.headers["Content-Length"] == str(len(image.data))
        elif expected == 304:
            assert body == b""
            for name in KEPT_ON_304:
                assert response.headers.get(name) == image.headers[name], (method, name)
        else:
            assert response.headers["ETag"] == image.etag
            assert "Content-Range" not in response.headers
            if method == "HEAD":
                assert body == b""
            else:
                assert b'"PRECONDITION_FAILED"' in body


async def test_not_modified_has_no_content_headers_that_would_rewrite_a_cached_200(origin: Origin) -> None:
    """A cache merges a 304's headers into its stored 200 (RFC 9111 section 4.3.4): a
    ``Content-Length: 0`` or another Content-Type there would corrupt the stored response."""
    image = await _image(origin, noise_png(40))
    for method in ("GET", "HEAD"):
        response = await origin.client.request(method, image.path, headers={"If-None-Match": image.etag})
        assert response.status == 304
        assert response.headers.get("Content-Length") in (None, str(len(image.data))), method
        assert response.headers.get("Content-Type") in (None, "image/png"), method
        assert "Content-Range" not in response.headers


@pytest.fixture(params=["cached", "streamed"])
async def fresh_origin(
    request: pytest.FixtureRequest, aiohttp_client: AiohttpClient, base_settings: Settings
) -> Origin:
    """An origin whose next image is served from the body cache or streamed from storage."""
    settings = base_settings
    if request.param == "streamed":
        settings = with_overrides(base_settings, cache_max_object_bytes=64 * 1024)
    return await start_origin(aiohttp_client, settings)


async def test_conditional_requests_are_answered_without_reading_storage(fresh_origin: Origin) -> None:
    origin = fresh_origin
    data = noise_png(160)  # ~77 KB: cached by default, streamed past a 64 KiB limit
    key = await origin.user()
    uploaded = await origin.upload_ok(key, data)
    path = f"/{uploaded['id']}.png"
    head = await origin.client.head(path)  # HEAD takes metadata only; it learns the validators
    assert head.status == 200
    etag, last_modified = head.headers["ETag"], head.headers["Last-Modified"]
    storage = instrument(origin)
    conditional = [
        ({"If-None-Match": etag}, 304),
        ({"If-Modified-Since": last_modified}, 304),
        ({"If-Match": '"other"'}, 412),
        ({"If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"}, 412),
        ({"If-None-Match": etag, "Range": "bytes=0-99"}, 304),
    ]
    for method in ("GET", "HEAD"):
        for headers, status in conditional:
            response = await origin.client.request(method, path, headers=headers)
            assert response.status == status, (method, headers)
            await response.read()
    assert storage.reads == []
    assert storage.streams == []
    # The wrapper is on the path: an unconditional GET does read storage.
    response = await origin.client.get(path)
    assert await response.read() == data
    assert len(storage.reads) + len(storage.streams) == 1
