"""SVG sanitizing with Cloudflare's svg-hush (through ``py-svg-hush``).

svg-hush drops scripts, event attributes, ``javascript:`` URLs, DTDs and entities, and rewrites
absolute external URLs to relative ones. A relative URL on the media host would still be a
reference outside the document, so a second pass keeps only in-document (``#id``) references.
"""

from __future__ import annotations

import re

from origin.errors import InvalidImage

# svg-hush serialises attributes as name="value" with the value escaped, so this pattern is exact.
_OUTSIDE_REFERENCE = re.compile(rb'\s(?:xlink:)?href="(?!#)[^"]*"')


def sanitize_svg(data: bytes) -> bytes:
    """A safe SVG document, or ``InvalidImage`` if ``data`` is not well-formed SVG."""
    from py_svg_hush import filter_svg  # lazy, like Pillow (see prepare.py): only uploads need it

    try:
        cleaned = filter_svg(data)
    except ValueError as exc:
        raise InvalidImage(f"SVG could not be parsed: {exc}", code="INVALID_SVG") from exc
    cleaned = _OUTSIDE_REFERENCE.sub(b"", cleaned)
    if b"<svg" not in cleaned:
        raise InvalidImage("SVG has no <svg> root element", code="INVALID_SVG")
    return cleaned
