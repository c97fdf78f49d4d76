"""What the outside world calls an image: its media URL and the CDN purge tags of its responses."""

from __future__ import annotations

import hashlib

from origin.images.metadata import ImageRecord
from origin.variants.widths import VARIANT_WIDTHS


def media_url(record: ImageRecord, media_base_url: str) -> str:
    return f"{media_base_url}/{record.object_key}"


def owner_tag(owner: str) -> str:
    """A purge tag for all of one user's images that does not reveal the user id publicly."""
    return "usr-" + hashlib.sha256(owner.encode()).hexdigest()[:16]


def purge_tags(record: ImageRecord) -> tuple[str, str]:
    return f"img-{record.id}", owner_tag(record.owner)


def cdn_purge_targets(record: ImageRecord, media_base_url: str) -> tuple[list[str], list[str]]:
    """The URLs and tags a CDN must forget when ``record`` is deleted, made private or purged:
    the image's and every variant's (``?w=N``; their responses carry the same tags)."""
    url = media_url(record, media_base_url)
    return [url, *(f"{url}?w={width}" for width in VARIANT_WIDTHS)], [*purge_tags(record)]
