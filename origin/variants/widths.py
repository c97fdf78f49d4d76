"""The widths a variant may have (``?w=N``), and reading ``w`` from a media URL's query.

A handful of fixed widths, not any number: each one is rendered and stored once per image, so a
client choosing widths freely could make the origin render and store without bound.
"""

from __future__ import annotations

from multidict import MultiMapping

from origin.errors import InvalidWidth
from origin.images.ids import variant_key

#: Public contract: the widths ``?w=`` accepts, in pixels.
VARIANT_WIDTHS = (160, 320, 640, 1280, 1920)
#: Rendered right after an upload (the dashboard's grid uses them), the others on first request.
EAGER_WIDTHS = (320, 640)
#: Exact spellings only: ``0320``, ``+320`` or ``320.0`` are refused like any other value.
_BY_TEXT = {str(width): width for width in VARIANT_WIDTHS}
_ALLOWED = ", ".join(map(str, VARIANT_WIDTHS))


def requested_width(query: MultiMapping[str]) -> int | None:
    """The width asked for, None without ``w``; ``InvalidWidth`` (400) for anything else,
    a repeated ``w`` included (which one would win is not obvious, so neither does)."""
    values = query.getall("w", ())
    if not values:
        return None
    if len(values) == 1:
        width = _BY_TEXT.get(values[0])
        if width is not None:
            return width
    raise InvalidWidth(f"w must be one of {_ALLOWED} (pixels), given once")


def variant_object_keys(image_id: str, ext: str) -> list[str]:
    """Every key a variant of the image may be stored under: a WebP, or a copy of the original."""
    return [variant_key(image_id, width, kind) for width in VARIANT_WIDTHS for kind in sorted({"webp", ext})]
