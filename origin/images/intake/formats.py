"""Formats the origin stores, and detection from the first bytes of a file (never its name)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImageFormat:
    """A stored format: Pillow's name for it, its extension and its exact Content-Type."""

    name: str
    ext: str
    content_type: str


JPEG = ImageFormat("JPEG", "jpg", "image/jpeg")
PNG = ImageFormat("PNG", "png", "image/png")
GIF = ImageFormat("GIF", "gif", "image/gif")
WEBP = ImageFormat("WEBP", "webp", "image/webp")
AVIF = ImageFormat("AVIF", "avif", "image/avif")
SVG = ImageFormat("SVG", "svg", "image/svg+xml")
#: Accepted on upload only: converted to JPEG, so never stored or served.
HEIC = ImageFormat("HEIF", "heic", "image/heic")

STORED = (JPEG, PNG, GIF, WEBP, AVIF, SVG)
BY_EXT = {fmt.ext: fmt for fmt in STORED}

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_SVG_PROLOG = re.compile(
    rb"\A(?:\s+|<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE\s+svg(?:\s[^>\[]*)?(?:\[.*?\])?\s*>)*",
    re.DOTALL | re.IGNORECASE,
)
_SVG_ROOT = re.compile(rb"<svg[\s>/]")

#: How many leading bytes detection looks at.
SNIFF_BYTES = 4096


def _iso_bmff_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO base media file (AVIF, HEIC), if that is what it is."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    box_size = int.from_bytes(head[0:4], "big")
    end = min(max(box_size, 16), len(head))
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def detect(head: bytes) -> ImageFormat | None:
    """The format of a file from its first ``SNIFF_BYTES`` bytes, or None if unsupported."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    brands = _iso_bmff_brands(head)
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIC_BRANDS:
        return HEIC
    text = head.removeprefix(b"\xef\xbb\xbf")
    prolog = _SVG_PROLOG.match(text)
    rest = text[prolog.end() if prolog else 0 :]
    if _SVG_ROOT.match(rest):
        return SVG
    return None
