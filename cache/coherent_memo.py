"""A TTL memo filled through single-flight loads, where an invalidation always wins.

The rule itself (a load only memoises its result if no invalidation happened while it ran) is
``cache.single_flight.CoherentFlights``; this adds the TTL and serving stale values on errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cache.single_flight import CoherentFlights
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
        #: The memoised value if fresh, without awaiting (a hot path skips a coroutine); the memo's
        #: own method, so a peek is one Python call, not one per layer.
        self.peek: Callable[[str], tuple[bool, V | None]] = self.memo.get
        self.flights: CoherentFlights[V] = CoherentFlights()
        self._load = load
        self._errors = errors
        self._stale_if_error = stale_if_error

    async def get(self, key: str) -> V:
        found, value = self.memo.get(key)
        if found:
            return value  # type: ignore[return-value]
        return await self.flights.run_and_keep(key, lambda: self._fill(key), lambda value: self.memo.put(key, value))

    async def _fill(self, key: str) -> V:
        try:
            return await self._load(key)
        except self._errors:
            found, stale = self.memo.stale(key)
            if found and self._stale_if_error(stale):  # type: ignore[arg-type]
                # Kept again like a fresh value: while the source is down, one request per TTL
                # waits for its timeout, not every request.
                return stale  # type: ignore[return-value]
            raise

    def invalidate(self, key: str) -> None:
        self.memo.discard(key)
        self.flights.invalidate(key)

    def clear(self) -> None:
        self.memo.clear()
        self.flights.invalidate_all()

    def stats(self) -> dict[str, int]:
        return {"entries": len(self.memo), **self.flights.stats()}
