"""The HTTP side of the client: one method per API call, errors as exceptions that say what to do.

Uploads stream the file from disk with a declared ``Content-Length`` (so the origin can refuse an
oversized file before reading it) and report progress as bytes go out.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import aiohttp

#: Read size for streaming an upload; also how often progress is reported.
CHUNK_BYTES = 256 * 1024
#: Largest page the API serves; ``list`` walks the whole listing with it.
PAGE_LIMIT = 100

#: What the commands read from an image; an answer without them is not from this API.
IMAGE_FIELDS = ("id", "url", "filename", "sizeBytes", "isPublic", "tags", "createdAt")

Progress = Callable[[int, int], None]


class ApiError(Exception):
    """The origin answered with an error envelope (or something that is not the API at all)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class Unreachable(Exception):
    """No HTTP answer at all: refused, unresolvable, timed out, cut off."""


def _multipart_header(boundary: str, name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        # A plain ASCII fallback for old parsers, and the exact name (RFC 5987) for everyone else.
        fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
        disposition += f"; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    content_type = "\r\nContent-Type: application/octet-stream" if filename is not None else ""
    return f"--{boundary}\r\nContent-Disposition: {disposition}{content_type}\r\n\r\n".encode()


class PicoraClient:
    """One origin and one API key; use as ``async with PicoraClient(...) as client``."""

    def __init__(self, base_url: str, api_key: str, *, connect_timeout: float = 10, read_timeout: float = 120) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PicoraClient:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            headers={"Authorization": f"Bearer {self.api_key}", "User-Agent": "picora-origin-client"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(self, method: str, path: str, *, expect: Sequence[str], **kwargs: Any) -> dict[str, Any]:
        """The ``data`` of a success envelope, with the ``expect`` fields; else ``ApiError`` or ``Unreachable``."""
        assert self._session is not None, "use the client as an async context manager"
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(method, url, **kwargs) as response:
                raw = await response.read()
                status, content_type = response.status, response.content_type
                retry_after = response.headers.get("Retry-After", "")
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"cannot reach {self.base_url}: {exc.os_error.strerror or exc.os_error}") from exc
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise Unreachable(f"no answer from {self.base_url}: {exc or type(exc).__name__}") from exc
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise ApiError(
                status,
                "NOT_THE_API",
                f"{url} answered {status} {content_type or 'without a body'}, not a Picora API envelope",
            )
        if body["success"]:
            data = body.get("data")
            if not isinstance(data, dict) or not all(field in data for field in expect):
                raise ApiError(status, "NOT_THE_API", f"{url} answered with data this client does not understand")
            return data
        error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
        details = {k: v for k, v in error.items() if k not in ("code", "message")}
        if retry_after.isdigit():
            details.setdefault("retryAfterSeconds", int(retry_after))
        raise ApiError(status, str(error.get("code", "HTTP_ERROR")), str(error.get("message", "")), details)

    async def upload(
        self, path: Path, *, public: bool = True, tags: Sequence[str] = (), progress: Progress | None = None
    ) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        fields = _multipart_header(boundary, "isPublic") + (b"true" if public else b"false") + b"\r\n"
        if tags:
            fields += _multipart_header(boundary, "tags") + json.dumps(list(tags)).encode() + b"\r\n"
        head = fields + _multipart_header(boundary, "file", path.name)
        tail = f"\r\n--{boundary}--\r\n".encode()
        handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
        try:
            size = (await asyncio.to_thread(path.stat)).st_size

            async def body() -> AsyncIterator[bytes]:
                yield head
                sent = 0
                # Never more than declared, even if the file grows while it is being sent.
                while sent < size and (chunk := await asyncio.to_thread(handle.read, min(CHUNK_BYTES, size - sent))):
                    yield chunk
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent, size)
                yield tail

            headers = {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            }
            return await self._call("POST", "/v1/images", expect=IMAGE_FIELDS, data=body(), headers=headers)
        finally:
            await asyncio.to_thread(handle.close)

    async def images(self, *, tag: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every image, newest first, following ``nextCursor`` page by page."""
        cursor: str | None = None
        while True:
            params = {"limit": str(PAGE_LIMIT)}
            if tag:
                params["tag"] = tag
            if cursor:
                params["cursor"] = cursor
            page = await self._call("GET", "/v1/images", expect=("items", "nextCursor"), params=params)
            for item in page["items"]:
                yield item
            cursor = page["nextCursor"]
            if not cursor:
                return

    async def update(
        self, image_id: str, *, tags: Sequence[str] | None = None, public: bool | None = None
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if tags is not None:
            changes["tags"] = list(tags)
        if public is not None:
            changes["isPublic"] = public
        return await self._call("PATCH", f"/v1/images/{quote(image_id, safe='')}", expect=IMAGE_FIELDS, json=changes)

    async def delete(self, image_id: str) -> dict[str, Any]:
        return await self._call("DELETE", f"/v1/images/{quote(image_id, safe='')}", expect=("id", "deleted"))
