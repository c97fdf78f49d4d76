"""CoherentMemo on its own: a TTL memo filled by single-flight loads, where an invalidation wins and
an expired value may be served (and kept again) while the source fails. Real tasks and short real
TTLs: the memo reads ``time.monotonic`` and takes no clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cache.coherent_memo import CoherentMemo
from tests.polling import eventually

TTL = 0.5
#: Long enough past ``TTL`` that the entry has surely expired.
EXPIRED = TTL + 0.05


class Source:
    """The source of truth behind the memo: a dict, a load counter, a switch to fail, a gate."""

    def __init__(self, **values: str | None) -> None:
        self.values = dict(values)
        self.loads = 0
        self.down = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def load(self, key: str) -> str | None:
        """Reads the value, then waits for the gate before answering: a reply still on its way."""
        self.loads += 1
        value, down = self.values.get(key), self.down
        await self.gate.wait()
        if down:
            raise ConnectionError("source down")
        return value


def memo_over(
    source: Source,
    ttl: float = TTL,
    *,
    errors: tuple[type[Exception], ...] = (),
    stale_if_error: Callable[[str | None], bool] = lambda value: False,
) -> CoherentMemo[str | None]:
    return CoherentMemo(ttl, source.load, errors=errors, stale_if_error=stale_if_error)


async def test_a_value_is_memoised_until_its_ttl_expires() -> None:
    source = Source(a="v1")
    memo = memo_over(source)
    assert memo.peek("a") == (False, None)
    assert await memo.get("a") == "v1"
    source.values["a"] = "v2"
    assert await memo.get("a") == "v1"
    assert memo.peek("a") == (True, "v1")
    assert source.loads == 1
    await asyncio.sleep(EXPIRED)
    assert memo.peek("a") == (False, None)
    assert await memo.get("a") == "v2"
    assert source.loads == 2


async def test_an_absent_key_is_memoised_too() -> None:
    source = Source()
    memo = memo_over(source, ttl=60)
    assert await memo.get("missing") is None
    assert await memo.get("missing") is None
    assert memo.peek("missing") == (True, None)
    assert source.loads == 1


async def test_concurrent_misses_cost_one_load() -> None:
    source = Source(a="v1")
    source.gate.clear()
    memo = memo_over(source, ttl=60)
    callers = [asyncio.create_task(memo.get("a")) for _ in range(8)]
    await eventually(lambda: memo.flights.joins == 7, "every caller joined the one load")
    source.gate.set()
    assert await asyncio.gather(*callers) == ["v1"] * 8
    assert source.loads == 1
    assert memo.stats() == {"entries": 1, "single_flight_loads": 1, "single_flight_joins": 7}


async def test_invalidate_drops_the_value_and_clear_drops_them_all() -> None:
    source = Source(a="v1", b="v1")
    memo = memo_over(source, ttl=60)
    assert [await memo.get("a"), await memo.get("b")] == ["v1", "v1"]
    source.values |= {"a": "v2", "b": "v2"}
    memo.invalidate("a")
    assert memo.peek("a") == (False, None)
    assert [await memo.get("a"), await memo.get("b")] == ["v2", "v1"]
    memo.clear()
    assert memo.stats()["entries"] == 0
    assert await memo.get("b") == "v2"


async def test_an_invalidation_during_a_load_wins_the_waiter_gets_the_value_the_memo_does_not() -> None:
    source = Source(a="before the change")
    source.gate.clear()
    memo = memo_over(source, ttl=60)
    waiting = asyncio.create_task(memo.get("a"))
    await eventually(lambda: source.loads == 1, "the load started")
    source.values["a"] = "after the change"
    memo.invalidate("a")
    source.gate.set()
    assert await waiting == "before the change"
    assert memo.peek("a") == (False, None)
    assert await memo.get("a") == "after the change"


async def test_a_clear_during_a_load_wins_too() -> None:
    source = Source(a="v1")
    source.gate.clear()
    memo = memo_over(source, ttl=60)
    waiting = asyncio.create_task(memo.get("a"))
    await eventually(lambda: source.loads == 1, "the load started")
    memo.clear()
    source.gate.set()
    assert await waiting == "v1"
    assert memo.stats()["entries"] == 0


async def test_errors_are_raised_and_not_memoised() -> None:
    source = Source(a="v1")
    memo = memo_over(source, ttl=60, errors=(ConnectionError,))
    source.down = True
    with pytest.raises(ConnectionError):
        await memo.get("a")
    source.down = False
    assert await memo.get("a") == "v1"
    assert source.loads == 2


async def test_stale_if_error_serves_the_expired_value_and_keeps_it_again_for_a_ttl() -> None:
    """While the source is down one request per TTL tries it (and waits for its error); the others
    get the stale value at once."""
    source = Source(a="v1")
    memo = memo_over(source, errors=(ConnectionError,), stale_if_error=lambda value: True)
    assert await memo.get("a") == "v1"
    await asyncio.sleep(EXPIRED)
    source.down = True
    assert await memo.get("a") == "v1"
    assert source.loads == 2
    assert memo.peek("a") == (True, "v1")  # re-armed: fresh again for a TTL
    assert await memo.get("a") == "v1"
    assert source.loads == 2
    await asyncio.sleep(EXPIRED)
    assert await memo.get("a") == "v1"
    assert source.loads == 3
    source.down = False
    await asyncio.sleep(EXPIRED)
    source.values["a"] = "v2"
    assert await memo.get("a") == "v2"


async def test_stale_if_error_serves_only_what_the_predicate_accepts() -> None:
    """The media path serves a stale public image during an outage, never a stale private one."""
    source = Source(public="yes", private="no")
    memo = memo_over(source, errors=(ConnectionError,), stale_if_error=lambda value: value == "yes")
    assert [await memo.get("public"), await memo.get("private")] == ["yes", "no"]
    await asyncio.sleep(EXPIRED)
    source.down = True
    assert await memo.get("public") == "yes"
    with pytest.raises(ConnectionError):
        await memo.get("private")


async def test_stale_if_error_never_serves_an_invalidated_value() -> None:
    source = Source(a="v1")
    memo = memo_over(source, errors=(ConnectionError,), stale_if_error=lambda value: True)
    assert await memo.get("a") == "v1"
    memo.invalidate("a")
    source.down = True
    with pytest.raises(ConnectionError):
        await memo.get("a")


async def test_stale_if_error_applies_only_to_the_listed_errors() -> None:
    class Broken(Exception):
        pass

    source = Source(a="v1")

    async def load(key: str) -> str | None:
        if source.down:
            raise Broken(key)
        return await source.load(key)

    memo: CoherentMemo[str | None] = CoherentMemo(
        TTL, load, errors=(ConnectionError,), stale_if_error=lambda value: True
    )
    assert await memo.get("a") == "v1"
    await asyncio.sleep(EXPIRED)
    source.down = True
    with pytest.raises(Broken):
        await memo.get("a")


async def test_stale_if_error_with_nothing_memoised_raises() -> None:
    source = Source(a="v1")
    source.down = True
    memo = memo_over(source, errors=(ConnectionError,), stale_if_error=lambda value: True)
    with pytest.raises(ConnectionError):
        await memo.get("a")
