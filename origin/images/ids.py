"""Image ids and the names built on them: the one grammar every module checks ids with.

Ids are 11-character nanoids from a cryptographic source (about 65 bits of entropy). A new id
never starts with ``-``: command-line tools (ours included) would read it as an option. Ids
already stored that do are still valid everywhere (``ID_PATTERN``). Match with ``fullmatch``.
"""

from __future__ import annotations

import re

from nanoid import generate

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
FIRST_ALPHABET = ALPHABET.replace("-", "")
ID_LENGTH = 11
ID_CHARS = r"[A-Za-z0-9_-]{11}"
#: What a media URL may carry after the dot; an extension that is not a stored format is a 404.
EXT_CHARS = r"[A-Za-z0-9]{1,8}"
#: The media route, in aiohttp's ``{name:regex}`` form.
MEDIA_ROUTE = f"/{{image_id:{ID_CHARS}}}.{{ext:{EXT_CHARS}}}"

ID_PATTERN = re.compile(ID_CHARS)
#: The path of a media URL, capturing the id (purge webhooks name images by URL).
MEDIA_PATH_PATTERN = re.compile(rf"/({ID_CHARS})\.{EXT_CHARS}")
#: Object keys in storage: ``<id>.<ext>`` (an original) or ``<id>.w<width>.<ext>`` (a variant of it,
#: stored beside it), with a stored format's lower-case extension. Groups: id, width, ext.
OBJECT_KEY_PATTERN = re.compile(rf"({ID_CHARS})\.(?:w([1-9][0-9]{{1,3}})\.)?([a-z0-9]{{2,5}})")
#: A listing cursor: ``<created ms>:<id>``, the sorted-set member of the last image returned.
CURSOR_PATTERN = re.compile(rf"\d{{13}}:{ID_CHARS}")


def new_image_id() -> str:
    """A new id; uniqueness is enforced by ``MetadataRepository.reserve_id``, not by chance alone."""
    return str(generate(FIRST_ALPHABET, 1)) + str(generate(ALPHABET, ID_LENGTH - 1))


def variant_key(image_id: str, width: int, ext: str) -> str:
    """Where the variant of ``image_id`` at ``width`` pixels is stored (``ext``: what it holds)."""
    return f"{image_id}.w{width}.{ext}"


def parse_object_key(key: str) -> tuple[str, int | None, str] | None:
    """``(id, width or None for an original, ext)``, or None for a key that is not an object's."""
    match = OBJECT_KEY_PATTERN.fullmatch(key)
    if match is None:
        return None
    width = match.group(2)
    return match.group(1), None if width is None else int(width), match.group(3)
