"""BodyCache on its own: a byte budget (LRU), a per-object limit, and the counters the metrics show."""

from __future__ import annotations

from cache.body_cache import BodyCache


def test_bodies_are_bounded_by_their_total_bytes_least_recently_used_first() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=40)
    cache.put("a", b"a" * 40)
    cache.put("b", b"b" * 40)
    assert cache.get("a") == b"a" * 40  # "b" is now the least recently used
    cache.put("c", b"c" * 40)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"a" * 40, b"c" * 40)
    assert (cache.size_bytes, len(cache), cache.evictions) == (80, 2, 1)


def test_one_large_body_can_evict_several_small_ones() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=100)
    for key in "abcde":
        cache.put(key, b"x" * 20)
    cache.put("big", b"y" * 70)
    assert cache.size_bytes <= 100
    assert cache.evictions == 4
    assert cache.get("big") == b"y" * 70


def test_bodies_above_the_object_limit_or_empty_are_not_cached() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=40)
    assert [cache.cacheable(size) for size in (0, 1, 40, 41)] == [False, True, True, False]
    cache.put("large", b"x" * 41)
    cache.put("empty", b"")
    assert len(cache) == 0
    assert cache.get("large") is None


def test_the_object_limit_never_exceeds_the_budget() -> None:
    assert BodyCache(budget_bytes=50, max_object_bytes=100).max_object_bytes == 50
    nothing = BodyCache(budget_bytes=0, max_object_bytes=10)
    nothing.put("a", b"x")
    assert len(nothing) == 0


def test_replacing_a_body_counts_its_bytes_once() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=40)
    cache.put("a", b"x" * 30)
    cache.put("a", b"y" * 20)
    assert (cache.size_bytes, len(cache), cache.evictions) == (20, 1, 0)


def test_hits_misses_and_stats() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=60)
    assert cache.get("a") is None
    cache.put("a", b"x" * 50)
    cache.put("b", b"y" * 60)  # 110 bytes: "a" goes
    assert cache.get("b") == b"y" * 60
    assert cache.get("b") == b"y" * 60
    assert cache.get("a") is None
    assert cache.stats() == {"hits": 2, "misses": 2, "evictions": 1, "bytes": 60, "entries": 1}


def test_discard_and_clear_free_memory_without_counting_evictions() -> None:
    cache = BodyCache(budget_bytes=100, max_object_bytes=40)
    for key in "abc":
        cache.put(key, b"x" * 10)
    cache.discard("a")
    cache.discard("never there")
    assert (cache.size_bytes, len(cache)) == (20, 2)
    cache.clear()
    assert (cache.size_bytes, len(cache), cache.evictions) == (0, 0, 0)
