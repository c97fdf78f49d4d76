"""How records look in API responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from origin.images.metadata import ImageRecord
from origin.media.urls import media_url


def iso_utc(epoch_ms: int) -> str:
    """ISO 8601 UTC with ``Z`` and whole seconds, e.g. ``2026-11-29T20:28:29Z``."""
    return datetime.fromtimestamp(epoch_ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(record: ImageRecord, media_base_url: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "url": media_url(record, media_base_url),
        "filename": record.filename,
        "sizeBytes": record.size,
        "isPublic": record.is_public,
        "tags": list(record.tags),
        "createdAt": iso_utc(record.created_ms),
        "width": record.width,
        "height": record.height,
    }
