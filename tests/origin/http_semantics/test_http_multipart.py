"""multipart/byteranges layout (RFC 9110 section 14.6, RFC 2046 section 5.1.1)."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from origin.http_semantics.ranges import (
    ByteRange,
    assemble,
    multipart_byteranges,
    multipart_content_type,
    new_boundary,
)

BOUNDARY = "3d6b6a416f9b5aa0c1e2f3d4"
BODY = bytes(range(256)) * 40  # every byte value, including CR, LF and "-"
SIZE = len(BODY)

RANGE_SETS = [
    pytest.param((ByteRange(0, 9),), id="single-part"),
    pytest.param((ByteRange(0, 99), ByteRange(500, 599)), id="two-parts"),
    pytest.param((ByteRange(9000, SIZE - 1), ByteRange(0, 0), ByteRange(13, 14)), id="three-parts-request-order"),
    pytest.param((ByteRange(0, SIZE - 1), ByteRange(0, SIZE - 1)), id="whole-object-twice"),
]


@pytest.mark.parametrize("ranges", RANGE_SETS)
@pytest.mark.parametrize("content_type", ["image/png", "image/svg+xml; charset=utf-8", ""])
def test_content_length_matches_assembled_body(ranges: tuple[ByteRange, ...], content_type: str) -> None:
    layout = multipart_byteranges(ranges, size=SIZE, content_type=content_type, boundary=BOUNDARY)
    assert layout.content_length == len(assemble(layout, BODY))


@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_part_headers(ranges: tuple[ByteRange, ...]) -> None:
    layout = multipart_byteranges(ranges, size=SIZE, content_type="image/png", boundary=BOUNDARY)
    assert [r for _, r in layout.parts] == list(ranges)
    for i, (preamble, r) in enumerate(layout.parts):
        lead = b"" if i == 0 else b"\r\n"  # the first part starts the body directly
        expected = (
            lead
            + f"--{BOUNDARY}\r\nContent-Type: image/png\r\n"
            f"Content-Range: bytes {r.start}-{r.end}/{SIZE}\r\n\r\n".encode("ascii")
        )
        assert preamble == expected
    assert layout.epilogue == f"\r\n--{BOUNDARY}--\r\n".encode("ascii")


def test_empty_content_type_omits_header() -> None:
    layout = multipart_byteranges([ByteRange(0, 1)], size=SIZE, content_type="", boundary=BOUNDARY)
    assert layout.parts[0][0] == f"--{BOUNDARY}\r\nContent-Range: bytes 0-1/{SIZE}\r\n\r\n".encode("ascii")


@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_body_parses_as_mime_multipart(ranges: tuple[ByteRange, ...]) -> None:
    layout = multipart_byteranges(ranges, size=SIZE, content_type="image/png", boundary=BOUNDARY)
    head = f"Content-Type: {multipart_content_type(BOUNDARY)}\r\n\r\n".encode("ascii")
    message = email.message_from_bytes(head + assemble(layout, BODY), policy=email.policy.HTTP)
    assert message.get_content_type() == "multipart/byteranges"
    assert message.defects == []
    parts = list(message.iter_parts())
    assert len(parts) == len(ranges)
    for part, r in zip(parts, ranges, strict=True):
        assert part["Content-Type"] == "image/png"
        assert part["Content-Range"] == r.content_range(SIZE)
        assert part.get_payload(decode=True) == BODY[r.start : r.end + 1]


@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_body_splits_on_delimiters(ranges: tuple[ByteRange, ...]) -> None:
    layout = multipart_byteranges(ranges, size=SIZE, content_type="image/png", boundary=BOUNDARY)
    body = assemble(layout, BODY)
    # RFC 2046: dash-boundary first, then CRLF-prefixed delimiters, then the close-delimiter.
    assert body.startswith(f"--{BOUNDARY}\r\n".encode("ascii"))
    assert body.endswith(f"\r\n--{BOUNDARY}--\r\n".encode("ascii"))
    inner = body[len(f"--{BOUNDARY}") : -len(f"\r\n--{BOUNDARY}--\r\n")]
    chunks = inner.split(f"\r\n--{BOUNDARY}".encode("ascii"))
    assert len(chunks) == len(ranges)
    for chunk, r in zip(chunks, ranges, strict=True):
        headers, data = chunk.split(b"\r\n\r\n", 1)
        content_range = f"Content-Range: {r.content_range(SIZE)}".encode("ascii")
        assert headers.split(b"\r\n") == [b"", b"Content-Type: image/png", content_range]
        assert data == BODY[r.start : r.end + 1]


def test_streaming_layout_concatenates_to_assemble() -> None:
    ranges = (ByteRange(10, 19), ByteRange(0, 4))
    layout = multipart_byteranges(ranges, size=SIZE, content_type="image/jpeg", boundary=BOUNDARY)
    streamed = b"".join(pre + BODY[r.start : r.end + 1] for pre, r in layout.parts) + layout.epilogue
    assert streamed == assemble(layout, BODY)


@pytest.mark.parametrize(
    ("ranges", "content_type", "boundary", "message"),
    [
        pytest.param((), "image/png", BOUNDARY, "at least one range", id="no-ranges"),
        pytest.param((ByteRange(0, SIZE),), "image/png", BOUNDARY, "outside", id="range-past-end"),
        pytest.param((ByteRange(0, 1),), "image/png", "", "boundary", id="empty-boundary"),
        pytest.param((ByteRange(0, 1),), "image/png", "a" * 71, "boundary", id="boundary-too-long"),
        pytest.param((ByteRange(0, 1),), "image/png", "abc ", "boundary", id="boundary-trailing-space"),
        pytest.param((ByteRange(0, 1),), "image/png", "a\r\nb", "boundary", id="boundary-crlf"),
        pytest.param((ByteRange(0, 1),), "image/png", 'a"b', "boundary", id="boundary-quote"),
        pytest.param((ByteRange(0, 1),), "image/png\r\nX: y", BOUNDARY, "content type", id="content-type-crlf"),
        pytest.param((ByteRange(0, 1),), "image/p\u00f1g", BOUNDARY, "content type", id="content-type-non-ascii"),
    ],
)
def test_multipart_rejects_invalid_input(
    ranges: tuple[ByteRange, ...], content_type: str, boundary: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        multipart_byteranges(ranges, size=SIZE, content_type=content_type, boundary=boundary)


def test_boundary_of_70_chars_accepted() -> None:
    layout = multipart_byteranges([ByteRange(0, 1)], size=SIZE, content_type="", boundary="a" * 70)
    assert layout.epilogue == b"\r\n--" + b"a" * 70 + b"--\r\n"


def test_assemble_rejects_short_body() -> None:
    layout = multipart_byteranges([ByteRange(0, 99)], size=100, content_type="", boundary=BOUNDARY)
    with pytest.raises(ValueError, match="outside"):
        assemble(layout, b"x" * 50)


def test_new_boundary_is_random_hex_and_usable() -> None:
    boundaries = {new_boundary() for _ in range(100)}
    assert len(boundaries) == 100
    for boundary in boundaries:
        assert re.fullmatch(r"[0-9a-f]{24}", boundary)
    multipart_byteranges([ByteRange(0, 1)], size=2, content_type="", boundary=boundaries.pop())


def test_multipart_content_type() -> None:
    assert multipart_content_type(BOUNDARY) == f"multipart/byteranges; boundary={BOUNDARY}"
