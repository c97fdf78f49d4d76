"""Rendering variants, read back with Pillow: size, format, orientation, colour, no metadata."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from origin.images.intake.prepare import IntakeLimits, prepare_image
from origin.variants.render import RenderRefused, render_variant
from tests.origin.variants import pictures

MAX_PIXELS = 89_478_485
#: RIFF chunks that would carry metadata in a WebP, and the animation chunk.
METADATA_CHUNKS = (b"EXIF", b"ICCP", b"XMP ", b"ANIM", b"ANMF")


def render(original: bytes, width: int) -> Image.Image:
    data = render_variant(original, width, max_pixels=MAX_PIXELS)
    assert data is not None
    assert_bare_webp(data)
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_bare_webp(data: bytes) -> None:
    """A still WebP with no metadata: checked on the bytes, and as Pillow reads them."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    for chunk in METADATA_CHUNKS:
        assert chunk not in data, chunk
    image = Image.open(io.BytesIO(data))
    assert image.format == "WEBP"
    assert getattr(image, "n_frames", 1) == 1
    assert not image.getexif()
    assert {"exif", "icc_profile", "xmp"}.isdisjoint(image.info)


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def close(pixel: tuple[int, ...], color: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))


def test_jpeg_with_orientation_6_is_upright_without_gps() -> None:
    original = pictures.sideways_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(pictures.GPS_IFD)  # the input has GPS
    image = render(original, 320)
    assert image.size == (320, 640)  # upright: stored 800x400, viewed 400x800
    assert close(pixel(image, 300, 320), pictures.RED)  # the stored top is now the right side
    assert close(pixel(image, 20, 320), pictures.BLUE)


@pytest.mark.parametrize("width", [160, 320, 640, 1280, 1920])
def test_never_wider_than_the_original(width: int) -> None:
    image = render(pictures.big_jpeg((1000, 500)), width)
    expected = min(width, 1000)
    assert image.size == (expected, expected // 2)


def test_png_keeps_its_alpha() -> None:
    image = render(pictures.alpha_png(), 160)
    assert image.size == (160, 120)
    assert image.mode == "RGBA"
    assert close(pixel(image, 20, 60), pictures.GREEN)
    assert pixel(image, 20, 60)[3] == 255
    assert pixel(image, 140, 60)[3] == 0


@pytest.mark.parametrize("make", [pictures.animated_gif, pictures.animated_webp], ids=["gif", "webp"])
def test_animation_becomes_its_first_frame(make: Callable[[], bytes]) -> None:
    original = make()
    assert getattr(Image.open(io.BytesIO(original)), "n_frames", 1) == 3
    image = render(original, 320)
    assert image.size == (320, 240)
    assert close(pixel(image, 160, 120), pictures.RED)


def test_avif() -> None:
    image = render(pictures.avif(), 320)
    assert image.size == (320, 240)
    assert close(pixel(image, 160, 20), pictures.RED)
    assert close(pixel(image, 160, 220), pictures.BLUE)


def test_heic_converted_on_upload_renders(tmp_path: Path) -> None:
    spooled = tmp_path / "upload"
    spooled.write_bytes(pictures.heic_with_location())
    prepared = prepare_image(spooled, tmp_path, IntakeLimits(MAX_PIXELS, 2 * 1024 * 1024))
    assert prepared.format.ext == "jpg"
    image = render(prepared.path.read_bytes(), 640)
    assert image.size == (640, 480)
    assert close(pixel(image, 320, 20), pictures.RED)


def test_colour_profile_is_converted_to_srgb() -> None:
    original = pictures.jpeg_with_profile()
    assert pixel(Image.open(io.BytesIO(original)), 5, 5)[0] > 240  # stored as red ...
    image = render(original, 320)
    red, _, blue = pixel(image, 160, 120)[:3]
    assert blue > 200  # ... which under its profile is blue
    assert red < 40


def test_a_broken_profile_is_ignored() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), pictures.RED).save(buffer, "JPEG", icc_profile=b"not a profile at all")
    image = render(buffer.getvalue(), 160)
    assert close(pixel(image, 80, 60), pictures.RED)


def test_small_original_is_not_upscaled() -> None:
    image = render(pictures.noise_png((100, 80)), 160)
    assert image.size == (100, 80)


def test_small_original_beats_a_larger_webp() -> None:
    original = pictures.tiny_gif()
    assert render_variant(original, 160, max_pixels=MAX_PIXELS) is None


def test_downscaled_webp_is_kept_even_when_larger() -> None:
    """ "Serve the original" is only for originals already no wider than the width asked for."""
    buffer = io.BytesIO()
    Image.new("1", (2000, 10)).save(buffer, "PNG", optimize=True)  # tiny file, wide image
    data = render_variant(buffer.getvalue(), 320, max_pixels=MAX_PIXELS)
    assert data is not None
    assert Image.open(io.BytesIO(data)).size == (320, 2)


def test_pixel_limit_is_respected() -> None:
    with pytest.raises(RenderRefused, match="pixels"):
        render_variant(pictures.big_jpeg((400, 300)), 160, max_pixels=400 * 300 - 1)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff" + b"\0" * 100, b"<svg/>", b"GIF89a"])
def test_undecodable_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(RenderRefused):
        render_variant(data, 160, max_pixels=MAX_PIXELS)


def test_truncated_jpeg_is_refused() -> None:
    original = pictures.big_jpeg((800, 600))
    with pytest.raises(RenderRefused):
        render_variant(original[: len(original) // 3], 160, max_pixels=MAX_PIXELS)
