"""Turn a spooled upload into the bytes we store: detect, validate, convert, hash.

Runs in a worker thread (Pillow and file I/O block). Every decoder failure on client bytes is a
4xx: a corrupt file is the client's problem, never a 500. Pillow and pillow-heif are imported on
the first upload that needs them, in that worker thread: a process that only serves media never
loads them (~6 MiB of RSS, more once their codecs' pages are touched).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from origin.errors import ApiError, InvalidImage, PayloadTooLarge, UnsupportedMediaType
from origin.images.intake.dimensions import Dimensions, image_dimensions
from origin.images.intake.formats import HEIC, JPEG, SNIFF_BYTES, SVG, ImageFormat, detect
from origin.images.intake.svg import sanitize_svg

#: Animated images may hold this many times the single-image pixel limit across all frames.
ANIMATION_PIXEL_FACTOR = 4


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_pixels: int
    svg_max_bytes: int


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """The file to store, its format, size and strong ETag (a content hash, fixed from now on),
    and its upright dimensions (None: an SVG without any)."""

    path: Path
    format: ImageFormat
    size: int
    etag: str
    dimensions: Dimensions | None = None


def _refuse_bomb(width: int, height: int, frames: int, limits: IntakeLimits) -> None:
    # Refused at 1x the configured limit, before decoding.
    if width * height > limits.max_pixels:
        raise InvalidImage(
            f"image is {width}x{height} pixels; at most {limits.max_pixels} pixels are allowed",
            code="IMAGE_TOO_MANY_PIXELS",
        )
    if width * height * frames > limits.max_pixels * ANIMATION_PIXEL_FACTOR:
        raise InvalidImage(f"animation has too many pixels across {frames} frames", code="IMAGE_TOO_MANY_PIXELS")


def _validate_raster(path: Path, fmt: ImageFormat, limits: IntakeLimits) -> None:
    """Decode every frame once: truncated or corrupt files fail here, not when served."""
    from PIL import Image  # lazy: see the module docstring

    # Pillow's own bomb check uses its own limit, not ours: it warns between 1x and 2x of it (a
    # DecompressionBombWarning in the log) and refuses over 2x with its text and twice its number.
    # ``_refuse_bomb`` checks the header's size against the configured limit before any decoding:
    # one refusal, one message of ours, whatever the size.
    Image.MAX_IMAGE_PIXELS = None

    try:
        with Image.open(path, formats=[fmt.name]) as image:
            _refuse_bomb(image.width, image.height, 1, limits)  # before counting frames, which reads them
            frames = int(getattr(image, "n_frames", 1))
            _refuse_bomb(image.width, image.height, frames, limits)
            for index in range(frames):
                image.seek(index)
                image.load()
    except ApiError:
        raise
    except Exception as exc:
        raise InvalidImage(f"not a valid {fmt.name} image: {exc}") from exc


def _convert_heic(source: Path, target: Path, limits: IntakeLimits) -> None:
    """HEIC becomes JPEG; EXIF and XMP (location among them) are not carried over, ICC is."""
    import pillow_heif  # lazy: see the module docstring

    try:
        heif = pillow_heif.open_heif(str(source), convert_hdr_to_8bit=True)
        width, height = heif.size
        _refuse_bomb(width, height, 1, limits)
        image = heif.to_pillow()
        icc = image.info.get("icc_profile")
        rgb = image.convert("RGB")
        rgb.save(target, "JPEG", quality=90, optimize=True, **({"icc_profile": icc} if icc else {}))
    except ApiError:
        raise
    except Exception as exc:
        raise InvalidImage(f"not a valid HEIC image: {exc}") from exc


def _etag(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return f'"{digest.hexdigest()[:32]}"'


def prepare_image(spooled: Path, work_dir: Path, limits: IntakeLimits) -> PreparedImage:
    """Validate ``spooled`` and return what to store (the same file, or a converted one in ``work_dir``)."""
    size = spooled.stat().st_size
    if size == 0:
        raise InvalidImage("the file is empty", code="EMPTY_FILE")
    with spooled.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    fmt = detect(head)
    if fmt is None:
        raise UnsupportedMediaType(
            "unsupported format: JPEG, PNG, WebP, GIF, AVIF, SVG and HEIC are accepted",
            details={"accepted": ["jpeg", "png", "webp", "gif", "avif", "svg", "heic"]},
        )
    stored_path, stored_format = spooled, fmt
    if fmt is SVG:
        if size > limits.svg_max_bytes:
            raise PayloadTooLarge(f"SVG files are limited to {limits.svg_max_bytes} bytes")
        stored_path = work_dir / "sanitized.svg"
        stored_path.write_bytes(sanitize_svg(spooled.read_bytes()))
    elif fmt is HEIC:
        stored_path, stored_format = work_dir / "converted.jpg", JPEG
        _convert_heic(spooled, stored_path, limits)
    else:
        _validate_raster(spooled, fmt, limits)
    return PreparedImage(
        stored_path,
        stored_format,
        stored_path.stat().st_size,
        _etag(stored_path),
        image_dimensions(stored_path, stored_format.ext),
    )
