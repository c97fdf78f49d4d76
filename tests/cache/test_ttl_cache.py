"""TtlMemo on its own: expiry, a memoised ``None``, the stale value kept for outages, the size
bound. Short real TTLs: the memo reads ``time.monotonic`` and takes no clock."""

from __future__ import annotations

import asyncio

from cache.ttl_cache import TtlMemo


async def test_get_tells_a_miss_from_a_memoised_none() -> None:
    memo: TtlMemo[str] = TtlMemo(60)
    assert memo.get("a") == (False, None)
    memo.put("a", None)
    memo.put("b", "v")
    assert memo.get("a") == (True, None)
    assert memo.get("b") == (True, "v")
    assert len(memo) == 2


async def test_an_entry_expires_after_its_ttl_but_stays_readable_as_stale() -> None:
    memo: TtlMemo[str] = TtlMemo(0.1)
    memo.put("a", "v")
    assert memo.get("a") == (True, "v")
    await asyncio.sleep(0.2)
    assert memo.get("a") == (False, None)
    assert memo.stale("a") == (True, "v")
    assert memo.stale("never") == (False, None)
    memo.put("a", "v2")
    assert memo.get("a") == (True, "v2")


def test_a_ttl_of_zero_memoises_nothing() -> None:
    memo: TtlMemo[str] = TtlMemo(0)
    memo.put("a", "v")
    assert memo.get("a") == (False, None)
    assert len(memo) == 0


def test_discard_and_clear() -> None:
    memo: TtlMemo[str] = TtlMemo(60)
    for key in "abc":
        memo.put(key, key)
    memo.discard("a")
    memo.discard("never there")
    assert (memo.get("a"), memo.get("b")) == ((False, None), (True, "b"))
    memo.clear()
    assert len(memo) == 0
    assert memo.stale("b") == (False, None)


def test_when_full_the_oldest_inserted_entry_goes() -> None:
    memo: TtlMemo[str] = TtlMemo(60, maxsize=2)
    memo.put("a", "1")
    memo.put("b", "2")
    memo.put("a", "1 again")  # replacing an entry never evicts
    assert len(memo) == 2
    memo.put("c", "3")
    assert len(memo) == 2
    assert [memo.get(key)[0] for key in "abc"] == [False, True, True]


async def test_when_full_expired_entries_go_before_the_oldest() -> None:
    memo: TtlMemo[str] = TtlMemo(0.5, maxsize=2)
    memo.put("old", "fresh again")
    memo.put("young", "soon expired")
    await asyncio.sleep(0.3)
    memo.put("old", "fresh again")  # renewed, but still first in insertion order
    await asyncio.sleep(0.3)  # "young" has expired, "old" has not
    memo.put("new", "v")
    assert memo.get("old") == (True, "fresh again")
    assert memo.stale("young") == (False, None)
    assert memo.get("new") == (True, "v")
