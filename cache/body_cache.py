"""Whole object bodies in memory, bounded by their total size in bytes (cachetools LRU).

Keyed by object key: an object's bytes never change after upload (its ETag is fixed and ids are
never reused), so an entry can only become unwanted, never stale; deletes evict it to free memory.
"""

from __future__ import annotations

from cachetools import LRUCache


class _CountingLRU(LRUCache[str, bytes]):
    """An LRU that counts evictions (for metrics and tests)."""

    evictions = 0

    def popitem(self) -> tuple[str, bytes]:
        item = super().popitem()
        self.evictions += 1
        return item


class BodyCache:
    """Bodies up to ``max_object_bytes`` each, at most ``budget_bytes`` in all."""

    def __init__(self, budget_bytes: int, max_object_bytes: int) -> None:
        self._lru = _CountingLRU(maxsize=max(budget_bytes, 1), getsizeof=len)
        self.budget_bytes = budget_bytes
        self.max_object_bytes = min(max_object_bytes, budget_bytes)
        self.hits = 0
        self.misses = 0

    def cacheable(self, size: int) -> bool:
        return 0 < size <= self.max_object_bytes

    def get(self, key: str) -> bytes | None:
        body = self._lru.get(key)
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        return body

    def put(self, key: str, body: bytes) -> None:
        if self.cacheable(len(body)):
            self._lru[key] = body

    def discard(self, key: str) -> None:
        self._lru.pop(key, None)

    def clear(self) -> None:
        self._lru.clear()

    def stats(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "bytes": self.size_bytes,
            "entries": len(self),
        }

    @property
    def evictions(self) -> int:
        return self._lru.evictions

    @property
    def size_bytes(self) -> int:
        return int(self._lru.currsize)

    def __len__(self) -> int:
        return len(self._lru)
