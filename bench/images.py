"""The images a run uploads: noise PNGs of a given size, made here and sent through ``POST /v1/images``."""

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


def noise_png(target_bytes: int, width: int) -> bytes:
    """An RGB PNG of random noise, stored uncompressed, of about ``target_bytes``."""
    height = max(1, target_bytes // (width * 3 + 1))
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@dataclass(frozen=True)
class Uploaded:
    label: str
    id: str
    path: str
    data: bytes


async def upload_all(port: int, key: str, images: Sequence[tuple[str, bytes]]) -> list[Uploaded]:
    done: list[Uploaded] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for label, data in images:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=f"{label}.png", content_type="image/png")
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
            if path != f"/{record['id']}.png":
                raise BenchError(f"upload of {label}: unexpected url {record['url']}")
            done.append(Uploaded(label, record["id"], path, data))
    return done
