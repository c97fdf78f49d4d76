"""Image ids: 11-character nanoids from a cryptographic source (about 65 bits of entropy).

A new id never starts with ``-``: command-line tools (ours included) would read it as an option.
Ids already stored that do are still valid everywhere (``ID_PATTERN``).
"""

from __future__ import annotations

import re

from nanoid import generate

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
FIRST_ALPHABET = ALPHABET.replace("-", "")
ID_LENGTH = 11
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{11}$")


def new_image_id() -> str:
    """A new id; uniqueness is enforced by ``MetadataRepository.reserve_id``, not by chance alone."""
    return str(generate(FIRST_ALPHABET, 1)) + str(generate(ALPHABET, ID_LENGTH - 1))
