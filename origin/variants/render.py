"""Rendering a variant: an original's bytes to a WebP at most N pixels wide, upright, sRGB, bare.

Pure and blocking: callers run it in a worker thread (``origin.variants.store``), never on the
event loop. Decoding is kept cheap: the JPEG decoder is asked for a DCT-scaled draft (1/2, 1/4 or
1/8 of the size, the smallest still at least the target), then ``Image.thumbnail`` resamples that
with Lanczos, so a 12-megapixel photo is never decoded at full size for a thumbnail. Pillow is
imported lazily, as in intake.

The output carries no metadata at all (no EXIF, GPS, XMP or ICC): orientation is applied to the
pixels, and colours are converted to sRGB, the colour space a WebP without a profile means.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image, ImageCms

#: Part of every variant's ETag: bump it whenever the output of the same input may change
#: (quality, resampling, colour handling), so caches never mix renderings under one validator.
RENDERER_VERSION = 1
WEBP_QUALITY = 80
#: libwebp's effort (0-6): 4 is its default; 6 saves a few percent for twice the time.
WEBP_METHOD = 4
#: The formats a variant is rendered from (SVG serves itself; HEIC was converted on upload).
RASTER_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")
#: EXIF orientations that swap width and height (rotated by 90 or 270 degrees).
_TRANSPOSING = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112


class RenderRefused(Exception):
    """The original cannot be rendered (too many pixels, undecodable): the variant fails."""


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA pixels in sRGB: through the embedded ICC profile when there is a usable one."""
    from PIL import ImageCms

    mode = "RGBA" if _has_alpha(image) else "RGB"
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode not in ("CMYK", "L", mode):
                image = image.convert(mode)
            # CMYK and grey profiles describe CMYK and grey pixels: those go to sRGB as RGB.
            out_mode = mode if image.mode == mode else "RGB"
            converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode=out_mode)
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile, or one for other pixels: the pixels as they are are the best guess
    return image if image.mode == mode else image.convert(mode)


def _srgb() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def render_variant(original: bytes, width: int, *, max_pixels: int) -> bytes | None:
    """The WebP for ``?w=width``: ``min(width, original upright width)`` pixels wide, height in
    proportion; the first frame of an animation. None means "serve the original instead": it is
    no wider than ``width`` and this WebP would be larger than it."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(original), formats=RASTER_FORMATS) as opened:
            image: Image.Image = opened
            if image.width * image.height > max_pixels:
                raise RenderRefused(f"{image.width}x{image.height} is more than {max_pixels} pixels")
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            transposed = orientation in _TRANSPOSING
            upright_width = image.height if transposed else image.width
            target = min(width, upright_width)
            icc = image.info.get("icc_profile")
            if image.format != "JPEG" and image.mode in ("P", "PA", "1", "I", "I;16", "F", "LA"):
                # Palette and odd modes resample badly (or not at all): to RGB(A) first.
                image = image.convert("RGBA" if _has_alpha(image) else "RGB")
            # The box fixes the (upright) width and leaves the height a pixel of slack, so rounding
            # never takes a pixel off the width. Thumbnail never upscales.
            across, along = (image.height, image.width) if transposed else (image.width, image.height)
            slack = math.ceil(target * along / across) + 1
            box = (slack, target) if transposed else (target, slack)
            if image.format == "JPEG":
                # DCT scaling: the smallest of 1/1, 1/2, 1/4, 1/8 at least as large as the box,
                # so a 12 MP photo for w=320 decodes at 500x375 (only the DC coefficients).
                image.draft(image.mode, box)
            image.thumbnail(box, Image.Resampling.LANCZOS, reducing_gap=None)
            upright = ImageOps.exif_transpose(image)
            pixels = _to_srgb(upright, icc if isinstance(icc, bytes) else None)
            pixels.info.clear()
            out = io.BytesIO()
            # Nothing but pixels: Pillow's WebP writer adds EXIF, ICC or XMP only when asked to.
            pixels.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    except RenderRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise RenderRefused(str(exc)) from exc
    except Exception as exc:  # Pillow raises many types for bytes it cannot decode
        raise RenderRefused(f"cannot render: {exc}") from exc
    data = out.getvalue()
    if target == upright_width and len(data) >= len(original):
        return None
    return data
