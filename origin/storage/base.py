"""The storage contract: what the origin needs from an object store, and nothing more."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from origin.images.ids import OBJECT_KEY_PATTERN

#: Object keys are ``<nanoid>.<ext>``; anything else is refused before it reaches a backend.


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object as a listing sees it (used by garbage collection)."""

    key: str
    size: int
    modified: float


class ObjectStorage(Protocol):
    """Put, read (whole or a byte range, streamed), delete and list objects by key."""

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key``, replacing any object there."""

    def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes ``start..end`` (inclusive; ``None`` = to the end) in chunks.

        Raises ``ObjectMissing`` when the key is absent and ``StorageError`` on any other failure,
        including a read that breaks mid-way.
        """
        ...

    async def read(self, key: str) -> bytes:
        """The whole object; for objects small enough to cache."""

    async def delete(self, key: str) -> None:
        """Remove the object; deleting an absent key succeeds (deletes are retried)."""

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or ``None`` when absent."""

    def list_objects(self) -> AsyncIterator[ObjectInfo]:
        """Every stored object, in no particular order."""
        ...

    async def check(self) -> None:
        """Raise ``StorageError`` unless the store is reachable (readiness)."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's namespace (path traversal, odd names)."""
    if not OBJECT_KEY_PATTERN.fullmatch(key):
        raise ValueError(f"invalid object key {key!r}")
    return key
