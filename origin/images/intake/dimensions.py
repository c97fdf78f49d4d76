"""Width and height of a stored image, as a viewer sees it (the API's ``width``/``height``).

Raster images: from the header alone (Pillow opens lazily, nothing is decoded), with the EXIF
orientation applied, so a portrait phone photo stored sideways reports portrait dimensions, as
browsers and the variants show it. SVG: the root element's ``width``/``height`` when both are
plain lengths in pixels, else its ``viewBox``, else unknown (None): an SVG without either has no
intrinsic size. Blocking (Pillow, regular expressions over up to 2 MB): run in a worker thread.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

Dimensions = tuple[int, int]

_TRANSPOSING = frozenset({5, 6, 7, 8})
_SVG_ROOT = re.compile(rb"<svg\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""\s([A-Za-z_:][-\w:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_PIXELS = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:px)?\s*")
_NUMBER = r"[-+]?(?:[0-9]*\.?[0-9]+)(?:[eE][-+]?[0-9]+)?"
_VIEWBOX = re.compile(rf"\s*{_NUMBER}[\s,]+{_NUMBER}[\s,]+({_NUMBER})[\s,]+({_NUMBER})\s*")


def _positive(value: str) -> int | None:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        return None
    return max(1, round(number))


def svg_dimensions(document: bytes) -> Dimensions | None:
    root = _SVG_ROOT.search(document)
    if root is None:
        return None
    attributes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(root.group(1)):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        attributes[match.group(1).decode("ascii", "replace")] = value.decode("utf-8", "replace")
    width, height = (_PIXELS.fullmatch(attributes.get(name, "")) for name in ("width", "height"))
    if width is not None and height is not None:
        size = _positive(width.group(1)), _positive(height.group(1))
        if size[0] is not None and size[1] is not None:
            return size[0], size[1]
    box = _VIEWBOX.fullmatch(attributes.get("viewBox", ""))
    if box is not None:
        size = _positive(box.group(1)), _positive(box.group(2))
        if size[0] is not None and size[1] is not None:
            return size[0], size[1]
    return None


def raster_dimensions(source: bytes | Path) -> Dimensions | None:
    """Upright width and height, or None when Pillow cannot read the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
            if image.getexif().get(0x0112, 1) in _TRANSPOSING:
                width, height = height, width
            return width, height
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def image_dimensions(source: bytes | Path, ext: str) -> Dimensions | None:
    """The dimensions of a stored object of format ``ext``, from its bytes or its file."""
    if ext == "svg":
        return svg_dimensions(source if isinstance(source, bytes) else source.read_bytes())
    return raster_dimensions(source)
