"""Range requests on the media path over real HTTP (RFC 9110 section 14), for an image served from
the body cache and for one streamed from storage, where a range must be fetched as a range."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
import pytest

from config import Settings
from config.settings import with_overrides
from origin.http_semantics import format_http_date, parse_http_date
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.faults import InstrumentedStorage, StreamCall, instrument
from tests.images import noise_png

STREAM_LIMIT = 64 * 1024
SMALL_SIDE, LARGE_SIDE = 80, 320  # ~19 KB (cached) and ~300 KB (streamed)


@dataclass
class Served:
    origin: Origin
    mode: str
    path: str
    key: str
    data: bytes
    etag: str
    last_modified: int
    storage: InstrumentedStorage
    loaded: bool = False  # a cached image is read whole once, then served from memory

    @property
    def size(self) -> int:
        return len(self.data)


async def _serve(origin: Origin, mode: str, data: bytes, storage: InstrumentedStorage | None = None) -> Served:
    key = await origin.user()
    uploaded = await origin.upload_ok(key, data)
    path = f"/{uploaded['id']}.png"
    head = await origin.client.head(path)
    last_modified = parse_http_date(head.headers["Last-Modified"])
    assert last_modified is not None
    storage = storage or instrument(origin)
    return Served(origin, mode, path, f"{uploaded['id']}.png", data, head.headers["ETag"], last_modified, storage)


@pytest.fixture
async def both(aiohttp_client: AiohttpClient, base_settings: Settings) -> tuple[Served, Served]:
    """On one origin with a 64 KiB cache limit: a small image served from the body cache and a
    large one (~300 KB of PNG noise) streamed from storage, behind one instrumented backend."""
    origin = await start_origin(aiohttp_client, with_overrides(base_settings, cache_max_object_bytes=STREAM_LIMIT))
    small = await _serve(origin, "cached", noise_png(SMALL_SIDE))
    large = await _serve(origin, "streamed", noise_png(LARGE_SIDE), small.storage)
    assert len(small.data) < STREAM_LIMIT < 4 * STREAM_LIMIT < len(large.data)
    return small, large


def parse_byteranges(body: bytes, content_type: str) -> list[tuple[str, str, bytes]]:
    """Split a multipart/byteranges body into (Content-Type, Content-Range, bytes) parts.

    Each part's length comes from its Content-Range, so image bytes that happen to contain
    the boundary cannot confuse the parser; the framing around every part is checked exactly.
    """
    match = re.fullmatch(r"multipart/byteranges; ?boundary=\"?([^\";]+)\"?", content_type)
    assert match, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    pos = len(delimiter) + 2
    parts: list[tuple[str, str, bytes]] = []
    while True:
        head_end = body.index(b"\r\n\r\n", pos)
        fields = dict(line.split(": ", 1) for line in body[pos:head_end].decode("ascii").split("\r\n"))
        content_range = fields["Content-Range"]
        numbers = re.fullmatch(r"bytes (\d+)-(\d+)/\d+", content_range)
        assert numbers, content_range
        first, last = int(numbers.group(1)), int(numbers.group(2))
        start = head_end + 4
        parts.append((fields.get("Content-Type", ""), content_range, body[start : start + last - first + 1]))
        pos = start + last - first + 1
        assert body.startswith(b"\r\n" + delimiter, pos), body[pos : pos + 80]
        pos += 2 + len(delimiter)
        if body.startswith(b"--", pos):
            assert body[pos:] == b"--\r\n"
            return parts
        assert body.startswith(b"\r\n", pos)
        pos += 2


def _header(template: str, size: int) -> str:
    return template.format(n=size, over=size + 1000)


def _resolve(parts: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Negative positions count from the end: -1 is the last byte."""
    return [(a % size, b % size) for a, b in parts]


Expect = int | list[tuple[int, int]]  # a status (200, 416), or the 206 parts (negative: from the end)

# In headers {n} is the object's size and {over} a position past its end.
RANGE_CASES: list[tuple[str, Expect]] = [
    ("bytes=0-0", [(0, 0)]),
    ("bytes=100-1099", [(100, 1099)]),
    ("Bytes=100-199", [(100, 199)]),  # the unit is case-insensitive
    ("bytes=1000-", [(1000, -1)]),  # open-ended
    ("bytes=-500", [(-500, -1)]),  # suffix
    ("bytes=-{over}", [(0, -1)]),  # a suffix longer than the object is all of it
    ("bytes=10-{over}", [(10, -1)]),  # the end is clamped
    ("bytes=0-0,{n}-", [(0, 0)]),  # an unsatisfiable part is dropped
    ("bytes=500-599,0-99", [(500, 599), (0, 99)]),  # parts in request order
    ("bytes=0-0, -1", [(0, 0), (-1, -1)]),
    ("bytes=9000-,0-99,3000-3099", [(9000, -1), (0, 99), (3000, 3099)]),
    ("bytes=0-99,50-149", [(0, 149)]),  # overlapping: coalesced, never sent twice
    ("bytes=100-199,0-149,5000-5009", [(0, 199), (5000, 5009)]),
    ("bytes=0-,0-,0-", 200),  # the same bytes three times: the whole object once
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 6000, 200)), 200),  # 30 parts, too many
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 500, 10)), [(0, 490)]),  # 50 near parts
    ("bytes={n}-", 416),
    ("bytes={n}-{over},{over}-", 416),
    ("bytes=-0", 416),
    ("items=0-10", 200),  # an unknown unit is ignored
    ("bytes=abc", 200),  # malformed: ignored
    ("bytes=10-5", 200),
    ("bytes=", 200),
    ("bytes=0-9;q", 200),
    ("bytes 0-9", 200),
]


async def _check_range(served: Served, headers: dict[str, str], expected: Expect) -> None:
    storage, size, data = served.storage, served.size, served.data
    context = f"{served.mode} image, {headers}"
    storage.reads.clear()
    storage.streams.clear()
    response = await served.origin.client.get(served.path, headers=headers)
    body = await response.read()
    assert response.headers["Content-Length"] == str(len(body)), context
    assert response.headers["Accept-Ranges"] == "bytes", context
    if expected == 200:
        assert response.status == 200, context
        assert body == data, context
        assert "Content-Range" not in response.headers, context
        expected_fetches = [StreamCall(served.key, 0, size - 1)]
    elif expected == 416:
        assert response.status == 416, context
        assert response.headers["Content-Range"] == f"bytes */{size}", context
        expected_fetches = []
    else:
        assert isinstance(expected, list)
        ranges = _resolve(expected, size)
        assert response.status == 206, context
        assert response.headers["ETag"] == served.etag, context
        if len(ranges) == 1:
            (first, last) = ranges[0]
            assert response.headers["Content-Type"] == "image/png", context
            assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}", context
            assert body == data[first : last + 1], context
        else:
            assert "Content-Range" not in response.headers, context
            parts = parse_byteranges(body, response.headers["Content-Type"])
            assert parts == [("image/png", f"bytes {a}-{b}/{size}", data[a : b + 1]) for a, b in ranges], context
        expected_fetches = [StreamCall(served.key, a, b) for a, b in ranges]
    if served.mode == "streamed":
        assert storage.reads == [], context  # never the whole object
        assert storage.streams == expected_fetches, context  # exactly the bytes asked for
    else:
        loads = expected != 416 and not served.loaded
        assert storage.streams == [], context
        assert storage.reads == ([served.key] if loads else []), context  # loaded whole, once
        served.loaded = served.loaded or loads


def _range_id(case: tuple[str, Expect]) -> str:
    header, expected = case
    short = header if len(header) < 40 else header[:37] + "..."
    return f"{short} -> {expected if isinstance(expected, int) else 206}"


@pytest.mark.parametrize(("template", "expected"), RANGE_CASES, ids=[_range_id(c) for c in RANGE_CASES])
async def test_range_requests_get_exactly_the_bytes_asked_for(
    both: tuple[Served, Served], template: str, expected: Expect
) -> None:
    for served in both:
        await _check_range(served, {"Range": _header(template, served.size)}, expected)


IF_RANGE_CASES = [
    ("{etag}", True),
    ("W/{etag}", False),  # If-Range needs a strong match
    ('"something-else"', False),
    ("{lm}", True),  # a date matches only when exactly Last-Modified
    ("{lm-1}", False),
    ("{lm+1}", False),
    ("not a date", False),
]


@pytest.mark.parametrize(("if_range", "partial"), IF_RANGE_CASES)
async def test_if_range_gives_a_part_only_for_the_same_representation(
    both: tuple[Served, Served], if_range: str, partial: bool
) -> None:
    for served in both:
        value = if_range.format(
            etag=served.etag,
            lm=format_http_date(served.last_modified),
            **{"lm-1": format_http_date(served.last_modified - 1), "lm+1": format_http_date(served.last_modified + 1)},
        )
        headers = {"Range": "bytes=100-199", "If-Range": value}
        await _check_range(served, headers, [(100, 199)] if partial else 200)


async def test_range_on_head_is_ignored(both: tuple[Served, Served]) -> None:
    for served in both:
        response = await served.origin.client.head(served.path, headers={"Range": "bytes=0-9"})
        assert response.status == 200
        assert response.headers["Content-Length"] == str(served.size)
        assert "Content-Range" not in response.headers
        assert await response.read() == b""
    assert both[0].storage.reads == []
    assert both[0].storage.streams == []


async def test_a_large_image_range_is_fetched_as_a_range_from_each_backend(
    aiohttp_client: AiohttpClient, any_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_overrides(any_settings, cache_max_object_bytes=STREAM_LIMIT))
    served = await _serve(origin, "streamed", noise_png(LARGE_SIDE))
    cases: list[tuple[str, Expect]] = [
        ("bytes=200000-200099", [(200000, 200099)]),
        ("bytes=-1000", [(-1000, -1)]),
        ("bytes=250000-250009,1-2", [(250000, 250009), (1, 2)]),
        ("bytes=262140-262150", [(262140, 262150)]),  # across the backend's 256 KiB chunks
    ]
    for header, expected in cases:
        await _check_range(served, {"Range": header}, expected)


async def test_a_range_of_a_private_image_is_401_for_anonymous_and_206_for_the_owner(
    both: tuple[Served, Served],
) -> None:
    for served in both:
        origin = served.origin
        owner = await origin.user()
        uploaded = await origin.upload_ok(owner, served.data, isPublic="false")
        path = f"/{uploaded['id']}.png"
        anonymous = await origin.client.get(path, headers={"Range": "bytes=0-9"})
        assert anonymous.status == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Content-Range" not in anonymous.headers
        mine = await origin.client.get(path, headers={"Range": "bytes=0-9", **origin.auth(owner)})
        assert mine.status == 206
        assert await mine.read() == served.data[:10]
        assert "private" in mine.headers["Cache-Control"]
        assert "authorization" in {name.strip().lower() for name in mine.headers["Vary"].split(",")}


async def test_a_multipart_response_is_what_a_real_client_parses(both: tuple[Served, Served]) -> None:
    """aiohttp's own multipart reader agrees with the framing (independent of the parser above)."""
    for served in both:
        response = await served.origin.client.get(served.path, headers={"Range": "bytes=10-19,-5"})
        assert response.status == 206
        reader = aiohttp.MultipartReader.from_response(response)
        parts: list[tuple[str | None, bytes]] = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            parts.append((part.headers.get("Content-Range"), bytes(await part.read())))
        size = served.size
        assert parts == [
            (f"bytes 10-19/{size}", served.data[10:20]),
            (f"bytes {size - 5}-{size - 1}/{size}", served.data[-5:]),
        ], served.mode
