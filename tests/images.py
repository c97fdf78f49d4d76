"""A corpus of real image files, made with Pillow and pillow-heif at test time."""

from __future__ import annotations

import functools
import io
import random

import pillow_heif
from PIL import Image


def raster(fmt: str, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return raster("JPEG", size, color)


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    return raster("PNG", size)


def webp() -> bytes:
    return raster("WEBP")


def avif() -> bytes:
    return raster("AVIF")


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (32, 32), (index * 60 % 256, 80, 160)) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def heic_with_location() -> bytes:
    """A HEIC photo whose EXIF carries GPS coordinates (which must not survive conversion)."""
    image = Image.new("RGB", (80, 60), (10, 120, 200))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    exif[0x010F] = "PicoraTestCam"
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80, exif=exif.tobytes())
    return buffer.getvalue()


@functools.cache
def noise_png(side: int, seed: int = 1) -> bytes:
    """A valid PNG of random pixels, stored uncompressed: its size is about ``3 * side**2`` bytes
    and the same for every seed."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def pixel_bomb(width: int, height: int) -> bytes:
    """A PNG that is tiny on disk but huge once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


MALICIOUS_SVG = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY greeting "hello"><!ENTITY ext SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"
     onload="alert(1)">
  <script>alert('x')</script>
  <a href="javascript:alert(2)"><text onclick="alert(3)">&greeting;</text></a>
  <image href="https://evil.example/track.png" width="1" height="1"/>
  <use xlink:href="http://evil.example/sprite.svg#icon"/>
  <rect id="box" width="10" height="10" fill="red"/>
  <use href="#box"/>
</svg>
"""
