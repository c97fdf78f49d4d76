"""Refusals of an upload say it in our words: decompression bombs with the configured limit whatever
their size, and a control character in a part header, sent as raw bytes over a socket."""

from __future__ import annotations

import asyncio
import json
import math
import warnings

import pytest

from config import Settings
from origin.images.intake.spool import INVALID_PART_HEADER
from tests import images
from tests.conftest import Origin

#: The configured limit (the default), which is also Pillow's own: where Pillow warned or spoke.
LIMIT = Settings().max_image_pixels


@pytest.mark.parametrize("factor", [1.5, 4.0])
async def test_a_bomb_is_refused_with_our_message_and_the_configured_limit_whatever_its_size(
    origin: Origin, factor: float
) -> None:
    side = math.isqrt(int(LIMIT * factor))
    bomb = await asyncio.to_thread(images.pixel_bomb, side, side)
    key = await origin.user()
    with warnings.catch_warnings(record=True) as seen:  # process-wide: Pillow runs in a worker thread
        warnings.simplefilter("always")
        response = await origin.upload(key, bomb, "big.png")
        body = await response.json()
    assert response.status == 400, body
    assert body["error"] == {
        "code": "IMAGE_TOO_MANY_PIXELS",
        "message": f"image is {side}x{side} pixels; at most {LIMIT} pixels are allowed",
    }
    assert [str(w.message) for w in seen if "DecompressionBomb" in w.category.__name__] == []


async def _raw_upload(origin: Origin, key: str, disposition: bytes) -> tuple[int, dict[str, object]]:
    """POST a multipart body written byte for byte (aiohttp's client would refuse to send it)."""
    part = images.png()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; ' + disposition + b"\r\n"
        b"Content-Type: image/png\r\n\r\n" + part + b"\r\n--XyZ--\r\n"
    )
    head = (
        f"POST /v1/images HTTP/1.1\r\nHost: media.picora.test\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    server = origin.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


async def test_a_control_character_in_a_filename_header_gets_our_message(origin: Origin) -> None:
    key = await origin.user()
    status, body = await _raw_upload(origin, key, b'filename="a\x07.jpg"')
    assert status == 400, body
    assert body["error"] == {"code": "INVALID_FORM", "message": INVALID_PART_HEADER}
    # Sent as the header allows (percent-encoded), the control character is dropped from the name.
    status, body = await _raw_upload(origin, key, b"filename*=UTF-8''a%07.jpg")
    assert status == 201, body
    assert body["data"]["filename"] == "a.jpg"  # type: ignore[index]
