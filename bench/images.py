"""The images a run uploads (noise PNGs of a given size, 12-megapixel JPEGs), made here and sent through the API."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from common import HOST, BenchError
from PIL import Image

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def noise_png(target_bytes: int, width: int) -> bytes:
    """An RGB PNG of random noise, stored uncompressed, of about ``target_bytes``."""
    height = max(1, target_bytes // (width * 3 + 1))
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def photo_jpeg(base: Image.Image, seed: int) -> bytes:
    """A JPEG of ``base`` with a patch of noise placed by ``seed``: a distinct image (and id) each time."""
    image = base.copy()
    patch = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    image.paste(patch, ((seed * 997) % (image.width - 64), (seed * 631) % (image.height - 64)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def photo_base(width: int = 4000, height: int = 3000) -> Image.Image:
    """A photo-like RGB image (smooth gradients plus grain, so JPEG sizes are a camera's, not noise's)."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.effect_noise((width, height), 48)
    return Image.merge("RGB", (red, green, blue))


@dataclass(frozen=True)
class Uploaded:
    label: str
    id: str
    path: str
    data: bytes


async def upload(session: aiohttp.ClientSession, port: int, key: str, label: str, data: bytes, ext: str) -> Uploaded:
    """One ``POST /v1/images``; the stored size and the media URL are checked."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=f"{label}.{ext}", content_type=MEDIA_TYPES[ext])
    async with session.post(
        f"http://{HOST}:{port}/v1/images", data=form, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        text = await response.text()
        if response.status != 201:
            raise BenchError(f"upload of {label} ({len(data)} bytes): {response.status} {text[:500]}")
    record = json.loads(text)["data"]
    if record["sizeBytes"] != len(data):
        raise BenchError(f"upload of {label}: stored {record['sizeBytes']} bytes, sent {len(data)}")
    path = urlsplit(record["url"]).path
    if path != f"/{record['id']}.{ext}":
        raise BenchError(f"upload of {label}: unexpected url {record['url']}")
    return Uploaded(label, record["id"], path, data)


async def upload_all(port: int, key: str, images: Sequence[tuple[str, bytes]], ext: str = "png") -> list[Uploaded]:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return [await upload(session, port, key, label, data, ext) for label, data in images]


async def set_hotlink_rules(port: int, key: str, domains: Sequence[str]) -> None:
    """``PUT /v1/settings/hotlink``: protection on for the key's user, only ``domains`` (no empty Referer)."""
    rules = {"enabled": True, "allowedDomains": list(domains), "allowEmptyReferer": False}
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"http://{HOST}:{port}/v1/settings/hotlink", json=rules, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        if response.status != 200:
            raise BenchError(f"PUT /v1/settings/hotlink: {response.status} {(await response.text())[:300]}")
