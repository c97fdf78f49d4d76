"""Tag rules: at most 10 per image, each 1 to 32 characters after normalisation.

Normalisation (documented in the README): Unicode NFC, surrounding whitespace stripped, inner runs
of whitespace collapsed to one space, lower-cased (``casefold``); duplicates dropped keeping the
first occurrence. Control characters are refused. So ``" Travel "`` and ``"travel"`` are one tag.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence

from origin.errors import ValidationFailed

MAX_TAGS = 10
MAX_TAG_LENGTH = 32


def normalise_tag(raw: object) -> str:
    """One tag in canonical form, or ``ValidationFailed`` saying what is wrong with it."""
    if not isinstance(raw, str):
        raise ValidationFailed(f"tags must be strings, got {json.dumps(raw)}", code="INVALID_TAGS")
    tag = " ".join(unicodedata.normalize("NFC", raw).split()).casefold()
    if any(unicodedata.category(ch).startswith("C") for ch in tag):
        raise ValidationFailed("tags must not contain control characters", code="INVALID_TAGS")
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise ValidationFailed(
            f"each tag must be 1 to {MAX_TAG_LENGTH} characters, got {len(tag)}", code="INVALID_TAGS"
        )
    return tag


def normalise_tags(raw: object) -> tuple[str, ...]:
    """A whole tag list: a JSON array of strings, at most ``MAX_TAGS`` after de-duplication."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ValidationFailed("tags must be a JSON array of strings", code="INVALID_TAGS")
    tags = tuple(dict.fromkeys(normalise_tag(item) for item in raw))
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags per image, got {len(tags)}", code="INVALID_TAGS")
    return tags


def parse_tags_field(text: str) -> tuple[str, ...]:
    """The multipart ``tags`` field: a JSON array string."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed("tags must be a JSON array string, e.g. '[\"travel\"]'", code="INVALID_TAGS") from exc
    return normalise_tags(value)
