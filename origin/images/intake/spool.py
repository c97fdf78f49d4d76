"""Read the upload form, streaming the file part to disk with the plan's size limit.

The body is never held whole in memory: chunks go to a file in the spool directory through a
worker thread, and counting stops the upload the moment it passes the limit.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError, InvalidHeader

from origin.errors import BadRequest, PayloadTooLarge, RequestTimeout

#: Room for the multipart framing and the small text fields around the file.
FORM_OVERHEAD_BYTES = 64 * 1024
#: Our answer to a part header aiohttp's parser refuses (its own text names parser internals).
INVALID_PART_HEADER = (
    "a header of a form part is not valid HTTP: control characters are not allowed in headers, "
    "a filename's included; send such a filename percent-encoded (filename*=UTF-8''...), "
    "its control characters are then dropped"
)
#: Largest text field (``isPublic``, ``tags``) we read.
MAX_FIELD_BYTES = 8 * 1024


@dataclass(slots=True)
class UploadForm:
    """What the multipart form carried; ``work_dir`` is removed by ``discard``."""

    work_dir: Path
    file_path: Path | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    async def discard(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.work_dir, ignore_errors=True)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than your plan's limit of {limit} bytes", details={"maxFileBytes": limit}
    )


def check_declared_length(request: web.Request, limit: int) -> None:
    """Refuse from Content-Length alone, before reading a byte of the body."""
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD_BYTES:
        raise too_large(limit)


async def _read_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadRequest(f"form field {part.name!r} is too long")
    try:
        return data.decode(part.get_charset("utf-8"))
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadRequest(f"form field {part.name!r} is not valid text") from exc


async def _next_chunk(part: BodyPartReader, chunk_size: int, stall_seconds: float) -> bytes:
    """A client that stops sending mid-upload is cut off: it would hold an upload slot forever."""
    try:
        async with asyncio.timeout(stall_seconds):
            return await part.read_chunk(chunk_size)
    except TimeoutError as exc:
        raise RequestTimeout(f"no upload data for {stall_seconds:g} seconds") from exc


async def _spool_file(part: BodyPartReader, target: Path, limit: int, chunk_size: int, stall_seconds: float) -> None:
    handle: BinaryIO = await asyncio.to_thread(target.open, "wb")
    try:
        written = 0
        while chunk := await _next_chunk(part, chunk_size, stall_seconds):
            written += len(chunk)
            if written > limit:
                raise too_large(limit)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)


async def read_upload_form(
    request: web.Request, spool_dir: Path, *, limit: int, chunk_size: int = 256 * 1024, stall_seconds: float = 30.0
) -> UploadForm:
    """Parse the multipart body; the caller must ``discard()`` the result when done."""
    if not request.content_type.startswith("multipart/form-data"):
        raise BadRequest("expected a multipart/form-data body with a 'file' field", code="INVALID_FORM")
    await asyncio.to_thread(spool_dir.mkdir, parents=True, exist_ok=True)
    form = UploadForm(Path(await asyncio.to_thread(tempfile.mkdtemp, dir=spool_dir)))
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, MultipartReader):
                raise BadRequest("nested multipart bodies are not supported", code="INVALID_FORM")
            if part.name == "file":
                if form.file_path is not None:
                    raise BadRequest("send exactly one 'file' field", code="INVALID_FORM")
                form.file_path = form.work_dir / "upload"
                form.filename = part.filename or ""
                await _spool_file(part, form.file_path, limit, chunk_size, stall_seconds)
            elif part.name in ("isPublic", "tags"):
                form.fields[part.name] = await _read_text(part)
            else:
                await part.release()
    except (PayloadTooLarge, BadRequest, RequestTimeout):
        await form.discard()
        raise
    except InvalidHeader as exc:  # e.g. filename="a\x07.jpg": a raw control character in a header
        await form.discard()
        raise BadRequest(INVALID_PART_HEADER, code="INVALID_FORM") from exc
    except (HttpProcessingError, ValueError, RuntimeError, AssertionError, LookupError) as exc:
        # aiohttp reports malformed framing (bad boundary, broken headers) with these.
        await form.discard()
        raise BadRequest(f"malformed multipart body: {exc}", code="INVALID_FORM") from exc
    except BaseException:
        await form.discard()
        raise
    if form.file_path is None:
        await form.discard()
        raise BadRequest("the form has no 'file' field", code="INVALID_FORM")
    return form
