"""A short-lived memo for metadata, so a cache hit on the media path never touches Redis.

Entries live ``ttl`` seconds: that bounds how long a change made on another instance can go
unseen here if its invalidation message is lost. Absent ids are memoised too (as ``None``), so a
flood of requests for one unknown id costs one lookup per TTL.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from cachetools import TTLCache

V = TypeVar("V")

_ABSENT = object()


class TtlMemo(Generic[V]):
    """``get`` returns ``(found, value)`` so a memoised ``None`` is distinguishable from a miss."""

    def __init__(self, ttl: float, maxsize: int = 100_000) -> None:
        self._cache: TTLCache[str, object] = TTLCache(maxsize=maxsize, ttl=ttl)
        self.enabled = ttl > 0

    def get(self, key: str) -> tuple[bool, V | None]:
        value = self._cache.get(key, _ABSENT)
        if value is _ABSENT:
            return False, None
        return True, value  # type: ignore[return-value]

    def put(self, key: str, value: V | None) -> None:
        if self.enabled:
            self._cache[key] = value

    def discard(self, key: str) -> None:
        self._cache.pop(key, None)

    def clear(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)
