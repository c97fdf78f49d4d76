"""Response headers of the media path (RFC 9110, RFC 9111), built once per record.

Public images: the CDN may keep them for ``cdn_max_age`` (``s-maxage``; purges handle change),
browsers for ``browser_max_age``, with ``stale-while-revalidate`` and ``stale-if-error`` so a
brief origin outage is invisible. Private images: ``private, no-cache`` — a shared cache never
stores them, the owner's browser revalidates every time (a cheap 304). Bodies never change after
upload, so the ETag is the content hash fixed at upload and Last-Modified the upload time.
"""

from __future__ import annotations

from collections.abc import Mapping

from config import Settings
from origin.http_semantics.dates import format_http_date
from origin.images.metadata import ImageRecord
from origin.media.urls import purge_tags

#: An SVG opened directly must not run scripts or reach out; ``sandbox`` also makes it a unique origin.
SVG_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
PRIVATE_CACHE_CONTROL = "private, no-cache"
#: Headers a 304 repeats from the 200 (RFC 9110 section 15.4.5), plus the purge tags for the CDN.
_NOT_MODIFIED_KEEP = ("ETag", "Cache-Control", "Last-Modified", "Vary", "Surrogate-Key", "Cache-Tag")


def public_cache_control(settings: Settings) -> str:
    """No ``public``: ``s-maxage`` already lets shared caches store the answer, even to a request that
    carried credentials (RFC 9111 sections 3 and 3.5), so ``public`` would add nothing."""
    return (
        f"max-age={settings.browser_max_age}, s-maxage={settings.cdn_max_age}, "
        f"stale-while-revalidate=86400, stale-if-error=604800"
    )


def representation_headers(record: ImageRecord, settings: Settings) -> dict[str, str]:
    tags = purge_tags(record)
    headers = {
        "Content-Type": record.content_type,
        "ETag": record.etag,
        "Last-Modified": format_http_date(record.created_ms // 1000),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": public_cache_control(settings) if record.is_public else PRIVATE_CACHE_CONTROL,
        "Surrogate-Key": " ".join(tags),
        "Cache-Tag": ",".join(tags),
    }
    if record.ext == "svg":
        headers["Content-Security-Policy"] = SVG_CSP
    return headers


def not_modified_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in _NOT_MODIFIED_KEEP if name in headers}
