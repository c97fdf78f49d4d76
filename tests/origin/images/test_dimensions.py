"""``width``/``height`` of stored images: upright raster sizes, SVG from its attributes."""

from __future__ import annotations

import pytest

from origin.images.intake.dimensions import image_dimensions
from tests import images
from tests.origin.variants import pictures


def test_raster_formats() -> None:
    assert image_dimensions(images.png((64, 48)), "png") == (64, 48)
    assert image_dimensions(pictures.animated_gif(), "gif") == (400, 300)
    assert image_dimensions(pictures.avif(), "avif") == (400, 300)
    assert image_dimensions(pictures.animated_webp(), "webp") == (400, 300)


def test_orientation_is_applied() -> None:
    assert image_dimensions(pictures.sideways_jpeg(), "jpg") == (400, 800)


def test_unreadable_raster_is_unknown() -> None:
    assert image_dimensions(b"\xff\xd8\xff\xe0 nothing", "jpg") is None


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">', (120, 80)),
        ('<svg width="120px" height="80.4px" viewBox="0 0 12 8">', (120, 80)),
        ('<svg viewBox="0 0 300 150">', (300, 150)),
        ("<svg viewBox='-10 -10,300.5,150'>", (300, 150)),
        ('<svg width="50%" height="50%" viewBox="0 0 30 15">', (30, 15)),
        ('<svg width="10em" height="5em">', None),
        ('<svg width="100">', None),
        ("<svg>", None),
        ('<svg viewBox="0 0 0 10">', None),
        ('<svg width="0" height="0" viewBox="0 0 nan 10">', None),
    ],
)
def test_svg(root: str, expected: tuple[int, int] | None) -> None:
    document = f'<?xml version="1.0"?>\n{root}<rect width="1" height="1"/></svg>'.encode()
    assert image_dimensions(document, "svg") == expected
