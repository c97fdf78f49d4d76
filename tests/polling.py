"""The suite's one way to wait for something that happens in the background: poll it, with a deadline."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], what: str, *, within: float = 5.0, interval: float = 0.005
) -> float:
    """Poll ``check`` (sync or async) every ``interval`` until it holds and return the seconds it
    took: tests that bound a latency assert on that. Fails with ``what`` after ``within`` seconds."""
    start = time.monotonic()
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"{what}: not within {within}s"
        await asyncio.sleep(interval)
