"""EntryResponse on the wire, read byte for byte from a real server.

The fixed header block is spliced into the header bytes aiohttp's writer holds until the body goes
out; these tests fail if an aiohttp upgrade changes where those bytes live or when they are sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from origin.media.responses import EntryResponse, header_block
from tests.conftest import ShippedTestServer

BLOCK = header_block({"ETag": '"abc"', "Cache-Control": "max-age=60", "X-Content-Type-Options": "nosniff"})
BODY = bytes(range(256)) * 40


async def _answer(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind == "304":
        return EntryResponse(304, BLOCK)
    if kind == "206":
        response = EntryResponse(206, BLOCK, content_type="image/png", body=BODY[10:20])
        response.headers["Content-Range"] = f"bytes 10-19/{len(BODY)}"
        return response
    if request.method == "HEAD":
        return EntryResponse(200, BLOCK, content_type="image/png", length=len(BODY))
    return EntryResponse(200, BLOCK, content_type="image/png", body=BODY)


@pytest.fixture
async def server() -> AsyncIterator[ShippedTestServer]:
    app = web.Application()
    app.router.add_route("*", "/{kind}", _answer)
    started = ShippedTestServer(app)
    await started.start_server()
    try:
        yield started
    finally:
        await started.close()


async def _exchange(server: ShippedTestServer, request: bytes, *, count: int = 1) -> list[tuple[bytes, bytes]]:
    """Send ``request`` ``count`` times on one connection; each answer's head and body."""
    assert server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    answers = []
    try:
        for _ in range(count):
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            has_body = length and not request.startswith(b"HEAD")
            body = await asyncio.wait_for(reader.readexactly(length), 5) if has_body else b""
            answers.append((head, body))
    finally:
        writer.close()
    return answers


def _fields(head: bytes) -> list[bytes]:
    return [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")[1:] if line]


async def test_a_200_carries_the_block_once_with_aiohttps_headers_and_the_body(server: ShippedTestServer) -> None:
    [(head, body)] = await _exchange(server, b"GET /200 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert head.count(b"\r\n\r\n") == 1
    assert BLOCK in head
    fields = _fields(head)
    for name in (
        b"etag", b"cache-control", b"x-content-type-options", b"content-type", b"content-length", b"date", b"server"
    ):  # fmt: skip
        assert fields.count(name) == 1, name
    assert b"Content-Type: image/png\r\n" in head
    assert b"connection" not in fields  # HTTP/1.1 keeps the connection open by default
    assert b"Content-Length: %d\r\n" % len(BODY) in head
    assert body == BODY


async def test_keep_alive_carries_several_answers_on_one_connection(server: ShippedTestServer) -> None:
    answers = await _exchange(server, b"GET /200 HTTP/1.1\r\nHost: x\r\n\r\n", count=3)
    assert [body for _, body in answers] == [BODY] * 3


async def test_a_304_has_the_block_and_no_length_or_body(server: ShippedTestServer) -> None:
    answers = await _exchange(server, b"GET /304 HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    for head, _ in answers:
        assert head.startswith(b"HTTP/1.1 304 Not Modified\r\n")
        assert BLOCK in head
        assert b"content-length" not in _fields(head)
        assert b"content-type" not in _fields(head)


async def test_a_head_has_the_length_and_type_of_the_get_and_no_body(server: ShippedTestServer) -> None:
    answers = await _exchange(server, b"HEAD /200 HTTP/1.1\r\nHost: x\r\n\r\n", count=2)
    for head, body in answers:
        assert b"Content-Length: %d\r\n" % len(BODY) in head
        assert b"Content-Type: image/png\r\n" in head
        assert BLOCK in head
        assert body == b""


async def test_a_206_and_http_1_0_keep_alive(server: ShippedTestServer) -> None:
    request = b"GET /206 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    answers = await _exchange(server, request, count=2)
    for head, body in answers:
        assert head.startswith(b"HTTP/1.0 206 Partial Content\r\n")
        assert b"Content-Range: bytes 10-19/" in head
        assert b"Connection: keep-alive\r\n" in head
        assert body == BODY[10:20]


@pytest.mark.parametrize(
    "headers",
    [
        {"ETag": '"a"\r\nSet-Cookie: x=1'},
        {"Cache-Tag": "a\nb"},
        {"X-Bad\r\nName": "v"},
        {"Content-Length": "5"},
        {"Date": "now"},
    ],
)
def test_a_block_refuses_what_aiohttp_would_refuse_or_decides_itself(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"forbidden character|set per response"):
        header_block(headers)


async def test_a_client_that_closes_is_told_so_and_http_1_0_without_keep_alive_is_not(
    server: ShippedTestServer,
) -> None:
    """The Connection header aiohttp would write (RFC 9112 section 9.3), then the connection ends."""
    for request, expected in (
        (b"GET /200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"Connection: close\r\n"),
        (b"GET /200 HTTP/1.0\r\n\r\n", None),
    ):
        assert server.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"))
        if expected is None:
            assert b"connection" not in _fields(head + b"\r\n")
        else:
            assert expected in head + b"\r\n"
        assert body == BODY
