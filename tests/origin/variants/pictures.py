"""Originals for the variant tests, made with Pillow and pillow-heif at test time."""

from __future__ import annotations

import io
import struct

import pillow_heif
from PIL import Image

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)
GPS_IFD, ORIENTATION, MAKE = 0x8825, 0x0112, 0x010F


def _gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "PicoraTestCam"
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    if orientation is not None:
        exif[ORIENTATION] = orientation
    return exif


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def two_tone(size: tuple[int, int], first: tuple[int, int, int], second: tuple[int, int, int]) -> Image.Image:
    """Top half ``first``, bottom half ``second``: which way up a result is shows at a glance."""
    image = Image.new("RGB", size, second)
    image.paste(first, (0, 0, size[0], size[1] // 2))
    return image


def sideways_jpeg() -> bytes:
    """800x400 as stored, EXIF orientation 6 (rotate 90° clockwise to view: 400x800), with GPS.
    Stored top is red, so upright the right half is red and the left half blue."""
    return _save(two_tone((800, 400), RED, BLUE), "JPEG", quality=90, exif=_gps_exif(6).tobytes())


def alpha_png() -> bytes:
    """400x300 RGBA: opaque green on the left half, fully transparent on the right."""
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    image.paste((*GREEN, 255), (0, 0, 200, 300))
    return _save(image, "PNG")


def animated_gif() -> bytes:
    """Three 400x300 frames: red, then green, then blue."""
    frames = [Image.new("RGB", (400, 300), color) for color in (RED, GREEN, BLUE)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (400, 300), color) for color in (RED, GREEN, BLUE)]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)


def avif() -> bytes:
    return _save(two_tone((400, 300), RED, BLUE), "AVIF", quality=80)


def heic_with_location(size: tuple[int, int] = (800, 600)) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(two_tone(size, RED, BLUE)).save(buffer, quality=80, exif=_gps_exif().tobytes())
    return buffer.getvalue()


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def swapped_primaries_icc() -> bytes:
    """A linear RGB ICC profile whose red and blue primaries are sRGB's blue and red: converted
    to sRGB, pixels stored as red come out blue, so a test sees the conversion happen."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100) + b"\0\0"
    description = b"desc\0\0\0\0" + struct.pack(">I", 8) + b"swapped\0" + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    tags = [
        (b"desc", description),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.1431, 0.0606, 0.7141)),  # sRGB's blue primary (D50)
        (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red primary (D50)
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12
        + b"acsp" + b"\0" * 24 + b"\0\0\0\0" + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def jpeg_with_profile() -> bytes:
    """400x300 stored as pure red under ``swapped_primaries_icc``: blue once in sRGB."""
    return _save(Image.new("RGB", (400, 300), (255, 0, 0)), "JPEG", quality=95, icc_profile=swapped_primaries_icc())


def big_jpeg(size: tuple[int, int] = (4000, 3000)) -> bytes:
    return _save(two_tone(size, RED, BLUE), "JPEG", quality=90)


def noise_png(size: tuple[int, int]) -> bytes:
    """Random pixels stored uncompressed: any WebP of it is much smaller."""
    return _save(Image.effect_noise(size, 80).convert("RGB"), "PNG", compress_level=0)


def tiny_gif() -> bytes:
    """1x1 palette GIF of a few dozen bytes: no WebP is smaller."""
    return _save(Image.new("P", (1, 1)), "GIF")
