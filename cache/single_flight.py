"""Single-flight: concurrent callers for one key share one in-flight load.

One task per key; every caller awaits it through ``asyncio.shield``, so a caller that is
cancelled (a client gone) does not cancel the load for the others. The task is forgotten as soon
as it finishes, successfully or not, so errors are never cached (as in async-lru).

``CoherentFlights`` adds the rule every cache in front of a changing source needs: an
invalidation wins over a load in flight. Without it, a load that read the old value just before a
change would store it just after the change was invalidated, and serve it until it expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[T]] = {}
        self.loads = 0
        self.joins = 0

    async def run(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        task = self._flights.get(key)
        if task is None:
            self.loads += 1
            task = asyncio.ensure_future(load())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self.joins += 1
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: a failure with no waiter left is not "never retrieved"

    def forget(self, key: str) -> None:
        """Later callers start a new load; callers already waiting keep the old one."""
        self._flights.pop(key, None)

    def forget_all(self) -> None:
        self._flights.clear()

    def stats(self) -> dict[str, int]:
        return {"single_flight_loads": self.loads, "single_flight_joins": self.joins}


class CoherentFlights(SingleFlight[T]):
    """Single-flight loads whose result is kept only if no invalidation happened while they ran.

    Every invalidation bumps an epoch and forgets the key's flight, so requests after it start a
    fresh load while requests already waiting get the old one (without storing it).
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    async def run_and_keep(self, key: str, load: Callable[[], Awaitable[T]], keep: Callable[[T], None]) -> T:
        """``load`` once for everyone waiting on ``key``; ``keep`` its value unless invalidated meanwhile."""

        async def load_then_keep() -> T:
            epoch = self._epoch
            value = await load()
            if epoch == self._epoch:
                keep(value)
            return value

        return await self.run(key, load_then_keep)

    def invalidate(self, key: str) -> None:
        self._epoch += 1
        self.forget(key)

    def invalidate_all(self) -> None:
        self._epoch += 1
        self.forget_all()
