"""Issue 12's cold render: a 12-megapixel JPEG to ``?w=320`` (WebP), timed on its first request.

Each image is uploaded and requested at ``?w=320`` at once, so every measured request is the first for
that image and width. The origin may start rendering 320 and 640 in the background right after the
upload (issue 12); the request then waits for that render instead of starting its own, so what is timed
is still how long a first viewer waits for a fresh upload's thumbnail. Until variants exist the origin
answers ``?w=`` with 400 (or ignores it and serves the original): the phase then says "variants not
available" and the bench goes on without the variant scenarios.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from common import HOST, run_async
from images import Uploaded, photo_base, photo_jpeg, upload
from latency import percentile
from report import table

WIDTH = 320


@dataclass
class RenderResult:
    """The first ``?w=320`` request of each fresh upload; ``unavailable`` says why there were none."""

    first_ms: list[float]
    photos: list[Uploaded]
    variant: bytes | None = None
    unavailable: str = ""
    megapixels: float = 0.0


async def cold_renders(port: int, key: str, count: int) -> RenderResult:
    base = photo_base()
    result = RenderResult([], [], megapixels=base.width * base.height / 1e6)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for n in range(count):
            photo = await upload(session, port, key, f"photo{n}", photo_jpeg(base, n), "jpg")
            started = time.perf_counter()
            async with session.get(f"http://{HOST}:{port}{photo.path}?w={WIDTH}") as response:
                body = await response.read()
            elapsed = (time.perf_counter() - started) * 1000
            kind = response.headers.get("Content-Type", "")
            if response.status != 200 or kind != "image/webp":
                result.unavailable = (
                    f"GET {photo.path}?w={WIDTH} answered {response.status} {kind or '(no type)'}, "
                    f"{len(body):,} bytes: not a WebP variant"
                )
                return result
            result.first_ms.append(elapsed)
            result.photos.append(photo)
            result.variant = body if result.variant is None else result.variant
    return result


def render_phase(port: int, key: str, count: int) -> RenderResult:
    return run_async(cold_renders(port, key, count))


def render_report(result: RenderResult) -> str:
    if result.unavailable:
        return f"Cold render to w={WIDTH}: variants not available ({result.unavailable})"
    times, photo = result.first_ms, result.photos[0]
    rows = [
        (f"cold render, {result.megapixels:.0f} MP JPEG -> w={WIDTH} WebP", "p50", "p95", "max", "images"),
        ("first request after upload", f"{percentile(times, 50):.1f} ms", f"{percentile(times, 95):.1f} ms",
         f"{max(times):.1f} ms", str(len(times))),
    ]  # fmt: skip
    size = len(result.variant or b"")
    return (
        f"Cold render: {len(times)} distinct fresh uploads of a 4000x3000 JPEG (~{len(photo.data) / 1e6:.1f} MB), "
        f"each requested once at ?w={WIDTH} ({size:,} B WebP)\n" + table(rows)
    )
