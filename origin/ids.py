"""Image ids: 11-character nanoids from a cryptographic source (about 65 bits of entropy)."""

from __future__ import annotations

import re

from nanoid import generate

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
ID_LENGTH = 11
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{11}$")


def new_image_id() -> str:
    """A new id; uniqueness is enforced by ``MetadataRepository.reserve_id``, not by chance alone."""
    return str(generate(ALPHABET, ID_LENGTH))
