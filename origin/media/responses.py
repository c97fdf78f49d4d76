"""How a media answer goes on the wire: its fixed headers as one block of bytes, checked once.

aiohttp checks every header value of every response byte by byte for CR, LF and other control
characters before it serializes it (RFC 9110 section 5.5). A media answer's headers are nearly all
fixed per image (ETag, Last-Modified, Cache-Control, the purge tags, ...): ``header_block`` checks
and encodes them once per cache entry, and ``EntryResponse`` writes that block, with the lines
it decides per response itself (Content-Type, Content-Length, Date, Server, Connection), after the
few that aiohttp still builds and checks (status line, Content-Range, X-Request-Id). Measured with ``bench/run.py
--instructions`` (callgrind): header serialization took 16.2k instructions per 304 against bare
aiohttp's 5.9k; the block saves ~10k per 304 and ~12k per 200 and 206 (see ``EntryResponse``).

The block is added to the header bytes aiohttp's writer keeps until the body goes out
(``StreamWriter._headers_buf``, aiohttp 3.11 and later); tests/origin/media/test_media_responses.py
fails if an aiohttp upgrade changes that.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from aiohttp import hdrs, web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion10, HttpVersion11

#: What RFC 9110 section 5.5 forbids in a field (what aiohttp refuses too): controls but HTAB.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers decided per response (by ``EntryResponse`` or aiohttp): never part of a fixed block.
_DECIDED_PER_RESPONSE = frozenset(
    {"content-type", "content-length", "transfer-encoding", "date", "server", "connection"}
)


def header_block(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` for each header, checked as aiohttp checks them (ValueError otherwise)."""
    lines = []
    for name, value in headers.items():
        if name.lower() in _DECIDED_PER_RESPONSE:
            raise ValueError(f"{name} is set per response, not in a fixed header block")
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value) or ":" in name:
            raise ValueError(f"forbidden character in header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")


#: Server's line, as aiohttp writes it.
_SERVER_LINE = f"Server: {SERVER_SOFTWARE}\r\n".encode()
#: What ends the head of a keep-alive HTTP/1.0 answer and of a closing HTTP/1.1 one (RFC 9112 9.3).
_KEEP_ALIVE_LINE = b"Connection: keep-alive\r\n"
_CLOSE_LINE = b"Connection: close\r\n"


@functools.lru_cache(maxsize=64)  # the few image types; a multipart boundary is new each time
def _content_type_line(content_type: str) -> bytes:
    if _FORBIDDEN.search(content_type):
        raise ValueError(f"forbidden character in content type {content_type!r}")
    return f"Content-Type: {content_type}\r\n".encode()


class EntryResponse(web.StreamResponse):
    """A response whose fixed headers are a pre-checked ``header_block``, with its body (if any) in
    memory. Like ``web.Response``, the headers and a body go out in one write, in ``write_eof``.

    Cheaper per response than ``web.Response(headers=...)``: no copy of the headers into a new
    multidict, no per-byte check of the fixed ones, no body payload machinery. Under callgrind
    (net of idle, with the media route ahead of the dashboard's ``/``, ~3k of each): 304 202k -> 193k,
    50 KB hit 291k -> 261k, 1 KB range 255k -> 224k, hotlink-protected 304 212k -> 205k.

    Its length is always known (a body, a HEAD's or a stream's ``length``, or none for a 304), so
    it also makes aiohttp's per-response header decisions itself (``_prepare_headers``): Content-Type
    and Content-Length, Date, Server and Connection are written as bytes beside the block instead of
    going through the header multidict and its per-byte check (bench/run.py --instructions, net:
    304 184.8k -> 179.4k, 50 KB hit 203.9k -> 193.8k).
    """

    _send_headers_immediately = False  # with the body, as web.Response does (one write, no Nagle wait)

    def __init__(
        self,
        status: int,
        block: bytes,
        *,
        content_type: str | None = None,
        body: bytes | None = None,
        length: int | None = None,
    ) -> None:
        """``body``: sent whole by ``write_eof``; without one, ``length`` is the Content-Length of a
        HEAD or of a body the caller writes itself; neither: no Content-Length (a 304)."""
        super().__init__(status=status)
        self._block = block
        self._body_bytes = body
        self._content_type = content_type
        self._length = len(body) if body is not None else length
        self._tail = b""

    async def _prepare_headers(self) -> None:
        """What aiohttp's ``StreamResponse._prepare_headers`` decides, for a response of known
        length that is never chunked, compressed or given cookies; the lines go in ``_tail``."""
        request, writer = self._req, self._payload_writer
        assert request is not None
        assert writer is not None
        if self._chunked or self._compression or self._cookies:
            raise RuntimeError("an EntryResponse is never chunked, compressed or given cookies")
        keep_alive = self._keep_alive
        if keep_alive is None:
            keep_alive = self._keep_alive = request.keep_alive
        length = self._length
        writer.length = length
        lines = [self._block]
        content_type = self._content_type
        if not self._must_be_empty_body:
            if length is None:
                raise RuntimeError("an EntryResponse with a body needs its length")
            content_type = content_type or "application/octet-stream"  # RFC 9110 8.3, as aiohttp does
        if content_type is not None:
            lines.append(_content_type_line(content_type))
        if length is not None and self.status != 304:  # a HEAD keeps the GET's length, a 304 has none (8.6)
            lines.append(b"Content-Length: %d\r\n" % length)
        headers = self._headers
        if hdrs.DATE not in headers:
            lines.append(b"Date: %s\r\n" % rfc822_formatted_time().encode())
        if hdrs.SERVER not in headers:
            lines.append(_SERVER_LINE)
        if hdrs.CONNECTION not in headers:
            version = request.version
            if keep_alive:
                if version == HttpVersion10:
                    lines.append(_KEEP_ALIVE_LINE)
            elif version == HttpVersion11:
                lines.append(_CLOSE_LINE)
        self._tail = b"".join(lines)

    async def _write_headers(self) -> None:
        await super()._write_headers()  # the status line and the few headers set per response, checked
        writer = self._payload_writer
        head = writer._headers_buf  # type: ignore[union-attr]  # ends "\r\n\r\n"
        writer._headers_buf = b"".join((head[:-2], self._tail, b"\r\n"))  # type: ignore[union-attr]

    async def write_eof(self, data: bytes = b"") -> None:
        body, self._body_bytes = self._body_bytes, None
        await super().write_eof(data if body is None else body)
