"""How a media answer goes on the wire: its fixed headers as one block of bytes, checked once.

aiohttp checks every header value of every response byte by byte for CR, LF and other control
characters before it serializes it (RFC 9110 section 5.5). A media answer's headers are nearly all
fixed per image (ETag, Last-Modified, Cache-Control, the purge tags, ...): ``header_block`` checks
and encodes them once per cache entry, and ``EntryResponse`` adds that block to the few headers
aiohttp still builds and checks per response (status line, Content-Type, Content-Length,
Content-Range, Date, Server, Connection, X-Request-Id). Measured with ``bench/run.py
--instructions`` (callgrind): header serialization took 16.2k instructions per 304 against bare
aiohttp's 5.9k; the block saves ~10k per 304 and ~12k per 200 and 206 (see ``EntryResponse``).

The block is added to the header bytes aiohttp's writer keeps until the body goes out
(``StreamWriter._headers_buf``, aiohttp 3.11 and later); tests/origin/media/test_media_responses.py
fails if an aiohttp upgrade changes that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiohttp import hdrs, web

#: What RFC 9110 section 5.5 forbids in a field (what aiohttp refuses too): controls but HTAB.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers aiohttp decides itself while preparing a response: never part of a fixed block.
_DECIDED_BY_AIOHTTP = frozenset({"content-type", "content-length", "transfer-encoding", "date", "server", "connection"})


def header_block(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` for each header, checked as aiohttp checks them (ValueError otherwise)."""
    lines = []
    for name, value in headers.items():
        if name.lower() in _DECIDED_BY_AIOHTTP:
            raise ValueError(f"{name} is set per response, not in a fixed header block")
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value) or ":" in name:
            raise ValueError(f"forbidden character in header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8")


class EntryResponse(web.StreamResponse):
    """A response whose fixed headers are a pre-checked ``header_block``, with its body (if any) in
    memory. Like ``web.Response``, the headers and a body go out in one write, in ``write_eof``.

    Cheaper per response than ``web.Response(headers=...)``: no copy of the headers into a new
    multidict, no per-byte check of the fixed ones, no body payload machinery. Under callgrind
    (net of idle, with the media route ahead of the dashboard's ``/``, ~3k of each): 304 202k -> 193k,
    50 KB hit 291k -> 261k, 1 KB range 255k -> 224k, hotlink-protected 304 212k -> 205k.
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
        if content_type is not None:
            self.headers[hdrs.CONTENT_TYPE] = content_type
        self._block = block
        self._body_bytes = body
        if body is not None:
            length = len(body)
        if length is not None:
            self.headers[hdrs.CONTENT_LENGTH] = str(length)

    async def _write_headers(self) -> None:
        await super()._write_headers()
        writer = self._payload_writer
        head = writer._headers_buf  # type: ignore[union-attr]  # status line and per-response headers, ending "\r\n\r\n"
        writer._headers_buf = b"".join((head[:-2], self._block, b"\r\n"))  # type: ignore[union-attr]

    async def write_eof(self, data: bytes = b"") -> None:
        body, self._body_bytes = self._body_bytes, None
        await super().write_eof(data if body is None else body)
