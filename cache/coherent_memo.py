"""A TTL memo filled through single-flight loads, where an invalidation always wins.

Without care, a load that read the old value just before a change would write it back into the
memo just after the change was invalidated, and serve it until the TTL ran out. So every
invalidation bumps an epoch and forgets the key's flight: a load only memoises its result if no
invalidation happened while it ran, and requests after an invalidation start a fresh load.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cache.single_flight import SingleFlight
from cache.ttl_cache import TtlMemo

V = TypeVar("V")


class CoherentMemo(Generic[V]):
    """``stale_if_error``: when a load fails with one of ``errors``, an expired value that the
    predicate accepts is served instead (never one that was invalidated: those are gone)."""

    def __init__(
        self,
        ttl: float,
        load: Callable[[str], Awaitable[V]],
        *,
        errors: tuple[type[Exception], ...] = (),
        stale_if_error: Callable[[V], bool] = lambda value: False,
    ) -> None:
        self.memo: TtlMemo[V] = TtlMemo(ttl)
        self.flights: SingleFlight[V] = SingleFlight()
        self._load = load
        self._epoch = 0
        self._errors = errors
        self._stale_if_error = stale_if_error

    def peek(self, key: str) -> tuple[bool, V | None]:
        """The memoised value if fresh, without awaiting: lets a hot path skip a coroutine."""
        return self.memo.get(key)

    async def get(self, key: str) -> V:
        found, value = self.memo.get(key)
        if found:
            return value  # type: ignore[return-value]
        return await self.flights.run(key, lambda: self._fill(key))

    async def _fill(self, key: str) -> V:
        epoch = self._epoch
        try:
            value = await self._load(key)
        except self._errors:
            found, stale = self.memo.stale(key)
            if found and self._stale_if_error(stale):  # type: ignore[arg-type]
                if epoch == self._epoch:
                    # Re-arm it for another TTL: while the source is down, one request per TTL
                    # waits for its timeout, not every request.
                    self.memo.put(key, stale)
                return stale  # type: ignore[return-value]
            raise
        if epoch == self._epoch:
            self.memo.put(key, value)
        return value

    def invalidate(self, key: str) -> None:
        self._epoch += 1
        self.memo.discard(key)
        self.flights.forget(key)

    def clear(self) -> None:
        self._epoch += 1
        self.memo.clear()
        self.flights.forget_all()
