"""SingleFlight and CoherentFlights on their own, with real tasks: what the media path relies on
(one storage read for a burst of requests, a client leaving never cancels it for the others, an
invalidation wins over a load in flight) without going through HTTP."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from cache.single_flight import CoherentFlights, SingleFlight
from tests.polling import eventually


class Load:
    """A load that counts its runs and holds until released; its value is ``value`` at release."""

    def __init__(self, value: str = "v1") -> None:
        self.value = value
        self.runs = 0
        self.finished = 0
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> str:
        self.runs += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.finished += 1
        return self.value


async def test_concurrent_callers_share_one_load() -> None:
    flights: SingleFlight[str] = SingleFlight()
    load = Load()
    callers = [asyncio.create_task(flights.run("a", load)) for _ in range(10)]
    await eventually(lambda: load.runs == 1, "the load started")
    load.gate.set()
    assert await asyncio.gather(*callers) == ["v1"] * 10
    assert load.runs == 1
    assert flights.stats() == {"single_flight_loads": 1, "single_flight_joins": 9}


async def test_different_keys_load_separately() -> None:
    flights: SingleFlight[str] = SingleFlight()
    first, second = Load("one"), Load("two")
    first.gate.set()
    second.gate.set()
    results = await asyncio.gather(flights.run("a", first), flights.run("b", second))
    assert list(results) == ["one", "two"]
    assert (first.runs, second.runs) == (1, 1)


async def test_a_finished_load_is_forgotten_so_the_next_caller_loads_again() -> None:
    """Single-flight shares a load in flight; it is not a cache."""
    flights: SingleFlight[str] = SingleFlight()
    load = Load()
    load.gate.set()
    assert await flights.run("a", load) == "v1"
    load.value = "v2"
    assert await flights.run("a", load) == "v2"
    assert load.runs == 2


async def test_a_cancelled_waiter_does_not_cancel_the_load_for_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    load = Load()
    leaving = asyncio.create_task(flights.run("a", load))
    staying = asyncio.create_task(flights.run("a", load))
    await eventually(lambda: flights.joins == 1, "the second caller joined")
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    load.gate.set()
    assert await staying == "v1"
    assert (load.runs, load.finished) == (1, 1)


async def test_the_load_finishes_even_when_its_only_waiter_is_cancelled() -> None:
    flights: SingleFlight[str] = SingleFlight()
    load = Load()
    leaving = asyncio.create_task(flights.run("a", load))
    await eventually(lambda: load.runs == 1, "the load started")
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    load.gate.set()
    await eventually(lambda: load.finished == 1, "the abandoned load ran to its end")


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    flights: SingleFlight[str] = SingleFlight()
    load = Load()
    load.fail = ConnectionError("source down")
    callers = [asyncio.create_task(flights.run("a", load)) for _ in range(3)]
    await eventually(lambda: load.runs == 1, "the load started")
    load.gate.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results), results
    load.fail = None
    assert await flights.run("a", load) == "v1"
    assert load.runs == 2


async def test_a_failure_nobody_waits_for_is_not_reported_as_never_retrieved() -> None:
    """The waiter left (a client gone) and then the load failed: nothing logs "Task exception was
    never retrieved" for a failure that is the normal fate of an abandoned load."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        flights: SingleFlight[str] = SingleFlight()
        load = Load()
        load.fail = ConnectionError("source down")
        leaving = asyncio.create_task(flights.run("a", load))
        await eventually(lambda: load.runs == 1, "the load started")
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        load.gate.set()
        await eventually(lambda: not flights._flights, "the failed load was forgotten")
        del leaving
        gc.collect()
        await asyncio.sleep(0)
        assert reported == []
    finally:
        loop.set_exception_handler(None)


async def test_forget_starts_a_new_load_for_later_callers_and_keeps_the_old_for_those_waiting() -> None:
    flights: SingleFlight[str] = SingleFlight()
    old, new = Load("old"), Load("new")
    waiting = asyncio.create_task(flights.run("a", old))
    await eventually(lambda: old.runs == 1, "the first load started")
    flights.forget("a")
    later = asyncio.create_task(flights.run("a", new))
    await eventually(lambda: new.runs == 1, "a second load started")
    old.gate.set()
    new.gate.set()
    assert (await waiting, await later) == ("old", "new")
    assert flights.stats() == {"single_flight_loads": 2, "single_flight_joins": 0}


async def test_forget_all_forgets_every_key() -> None:
    flights: SingleFlight[str] = SingleFlight()
    loads = {key: Load(key) for key in "ab"}
    waiting = [asyncio.create_task(flights.run(key, load)) for key, load in loads.items()]
    await eventually(lambda: all(load.runs == 1 for load in loads.values()), "both loads started")
    flights.forget_all()
    for load in loads.values():
        load.gate.set()
    again = await asyncio.gather(*(flights.run(key, load) for key, load in loads.items()))
    assert again == ["a", "b"]
    assert await asyncio.gather(*waiting) == ["a", "b"]
    assert flights.loads == 4


# --- CoherentFlights: an invalidation wins over a load in flight ----------------------------------


async def test_a_load_is_kept_once_for_all_its_waiters() -> None:
    flights: CoherentFlights[str] = CoherentFlights()
    load = Load()
    kept: list[str] = []
    callers = [asyncio.create_task(flights.run_and_keep("a", load, kept.append)) for _ in range(5)]
    await eventually(lambda: flights.joins == 4, "every caller joined the one load")
    load.gate.set()
    assert await asyncio.gather(*callers) == ["v1"] * 5
    assert kept == ["v1"]


async def test_an_invalidation_during_a_load_wins_the_value_is_not_kept_but_waiters_get_it() -> None:
    flights: CoherentFlights[str] = CoherentFlights()
    load = Load("read before the change")
    kept: list[str] = []
    waiting = asyncio.create_task(flights.run_and_keep("a", load, kept.append))
    await eventually(lambda: load.runs == 1, "the load started")
    flights.invalidate("a")
    load.gate.set()
    assert await waiting == "read before the change"
    assert kept == []


async def test_after_an_invalidation_new_callers_get_a_fresh_load_which_is_kept() -> None:
    flights: CoherentFlights[str] = CoherentFlights()
    stale, fresh = Load("old"), Load("new")
    kept: list[str] = []
    before = asyncio.create_task(flights.run_and_keep("a", stale, kept.append))
    await eventually(lambda: stale.runs == 1, "the first load started")
    flights.invalidate("a")
    after = asyncio.create_task(flights.run_and_keep("a", fresh, kept.append))
    await eventually(lambda: fresh.runs == 1, "a fresh load started after the invalidation")
    fresh.gate.set()
    assert await after == "new"
    stale.gate.set()  # the old load ends last: it must not overwrite the fresh value
    assert await before == "old"
    assert kept == ["new"]


async def test_any_invalidation_during_a_load_means_it_is_not_kept() -> None:
    """One epoch for all keys: conservative (an unrelated invalidation costs one reload), never stale."""
    flights: CoherentFlights[str] = CoherentFlights()
    load = Load()
    kept: list[str] = []
    waiting = asyncio.create_task(flights.run_and_keep("a", load, kept.append))
    await eventually(lambda: load.runs == 1, "the load started")
    flights.invalidate("b")
    load.gate.set()
    assert await waiting == "v1"
    assert kept == []


async def test_invalidate_all_during_a_load_wins_too() -> None:
    flights: CoherentFlights[str] = CoherentFlights()
    load = Load()
    kept: list[str] = []
    waiting = asyncio.create_task(flights.run_and_keep("a", load, kept.append))
    await eventually(lambda: load.runs == 1, "the load started")
    flights.invalidate_all()
    load.gate.set()
    assert await waiting == "v1"
    assert kept == []
    load.value = "v2"
    assert await flights.run_and_keep("a", load, kept.append) == "v2"
    assert kept == ["v2"]


async def test_a_failed_load_keeps_nothing() -> None:
    flights: CoherentFlights[str] = CoherentFlights()
    load = Load()
    load.fail = ConnectionError("source down")
    load.gate.set()
    kept: list[str] = []
    with pytest.raises(ConnectionError):
        await flights.run_and_keep("a", load, kept.append)
    assert kept == []
