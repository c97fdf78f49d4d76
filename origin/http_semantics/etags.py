"""Entity-tag parsing and comparison (RFC 9110 section 8.8.3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["EntityTag", "parse_entity_tag", "parse_etag_list", "strong_match", "weak_match"]

_OWS = " \t"


@dataclass(frozen=True, slots=True)
class EntityTag:
    """An entity-tag; ``opaque`` is the opaque-tag without its double quotes."""

    opaque: str
    weak: bool

    def __str__(self) -> str:
        return f'W/"{self.opaque}"' if self.weak else f'"{self.opaque}"'


# etagc = %x21 / %x23-7E / obs-text (RFC 9110 section 8.8.3). obs-text is %x80-FF; header bytes
# may reach us latin-1 or surrogate-escaped UTF-8 decoded, so any non-ASCII code point is accepted
# as obs-text. A regex, not a per-character test: this runs on every conditional or ranged hit.
_OPAQUE = re.compile("[\x21\x23-\x7e\x80-\U0010ffff]*")


def _scan_entity_tag(value: str, pos: int) -> tuple[EntityTag, int] | None:
    """Parse one entity-tag starting at ``pos``; return it and the index after it.

    Needed (rather than splitting on commas) because "," is a legal etagc.
    """
    weak = value.startswith("W/", pos)  # the weak indicator is case-sensitive: %s"W/"
    if weak:
        pos += 2
    if not value.startswith('"', pos):
        return None
    end = value.find('"', pos + 1)
    if end == -1:
        return None
    opaque = value[pos + 1 : end]
    if not _OPAQUE.fullmatch(opaque):
        return None
    return EntityTag(opaque, weak), end + 1


def parse_entity_tag(value: str) -> EntityTag | None:
    """Parse a single entity-tag (e.g. an ETag or If-Range value), or None if malformed."""
    value = value.strip(_OWS)
    scanned = _scan_entity_tag(value, 0)
    if scanned is None or scanned[1] != len(value):
        return None
    return scanned[0]


def parse_etag_list(value: str) -> list[EntityTag] | Literal["*"] | None:
    """Parse an If-Match / If-None-Match value: ``*`` or ``1#entity-tag``.

    Follows the recipient list rule of RFC 9110 section 5.6.1.2: elements are
    separated by commas with optional whitespace, and empty elements are
    skipped. Returns None for anything malformed, including a list with no
    entity-tags at all (the grammar needs at least one) and ``*`` mixed with
    tags, so the caller can apply the field-specific rule for bad values.
    """
    value = value.strip(_OWS)
    if value == "*":
        return "*"
    tags: list[EntityTag] = []
    pos, n = 0, len(value)
    while True:
        while pos < n and value[pos] in _OWS:
            pos += 1
        if pos == n:
            break
        if value[pos] == ",":  # empty list element
            pos += 1
            continue
        scanned = _scan_entity_tag(value, pos)
        if scanned is None:
            return None
        tag, pos = scanned
        tags.append(tag)
        while pos < n and value[pos] in _OWS:
            pos += 1
        if pos < n and value[pos] != ",":
            return None
    return tags or None


def strong_match(a: EntityTag, b: EntityTag) -> bool:
    """Strong comparison (RFC 9110 section 8.8.3.2): both strong, same opaque-tag."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: EntityTag, b: EntityTag) -> bool:
    """Weak comparison (RFC 9110 section 8.8.3.2): same opaque-tag, weakness ignored."""
    return a.opaque == b.opaque
