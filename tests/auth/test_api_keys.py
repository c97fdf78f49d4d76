"""API keys against a real redis-server: issue, list without secrets, revoke by id, cap, last use."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from auth.api_keys import KeyStore, TooManyKeys, digest, key_id
from auth.keyspace import key_used_key


async def test_keys_are_listed_by_name_and_prefix_never_by_secret(redis_client: Redis) -> None:
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    laptop = await store.issue("alice", "laptop")
    cli_key = await store.create_key("alice")
    listed = await store.list_keys("alice")
    assert [k.name for k in listed] == ["laptop", ""] or [k.name for k in listed] == ["", "laptop"]
    by_id = {k.id: k for k in listed}
    assert by_id[laptop.info.id] == laptop.info
    assert laptop.info.prefix == laptop.key[:12] + "…"
    assert laptop.info.prefix.startswith("sk_live_")
    assert by_id[key_id(digest(cli_key))].prefix == cli_key[:12] + "…"
    for info in listed:
        assert laptop.key not in repr(info)
        assert cli_key not in repr(info)
    assert await store.list_keys("bob") == []


async def test_revoking_by_id_stops_the_key_and_only_for_its_owner(redis_client: Redis) -> None:
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    await store.ensure_user("bob", "free")
    issued = await store.issue("alice", "laptop")
    assert await store.resolve(issued.key) is not None
    assert not await store.revoke_id("bob", issued.info.id)
    assert not await store.revoke_id("alice", "not-an-id")
    assert await store.resolve(issued.key) is not None
    assert await store.revoke_id("alice", issued.info.id)
    assert await store.resolve(issued.key) is None
    assert await store.list_keys("alice") == []
    assert not await store.revoke_id("alice", issued.info.id)
    assert not await store.revoke(issued.key)


async def test_the_cap_holds_under_concurrent_creation(redis_client: Redis) -> None:
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    results = await asyncio.gather(
        *(store.issue("alice", f"k{i}", limit=20) for i in range(30)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, TooManyKeys)) == 10
    assert len(await store.list_keys("alice")) == 20
    with pytest.raises(TooManyKeys):
        await store.issue("alice", "one more", limit=20)
    await store.create_key("alice")  # the operator's CLI is not capped
    assert len(await store.list_keys("alice")) == 21


async def test_last_use_is_written_at_most_once_a_minute_per_key(redis_client: Redis) -> None:
    one, other = KeyStore(redis_client), KeyStore(redis_client)  # two instances
    await one.ensure_user("alice", "free")
    key = await one.create_key("alice")
    assert (await one.list_keys("alice"))[0].last_used_at is None
    await redis_client.config_resetstat()
    for _ in range(10):
        assert await one.resolve(key) is not None
        assert await other.resolve(key) is not None
    stats = await redis_client.info("commandstats")
    assert stats["cmdstat_hset"]["calls"] == 1  # one write for both instances
    assert stats["cmdstat_evalsha"]["calls"] == 2  # one question from each instance
    first = (await one.list_keys("alice"))[0].last_used_at
    assert first is not None
    await redis_client.hset(key_used_key("alice"), digest(key), first - 61)  # a minute ago
    one._touched.clear()
    await one.resolve(key)
    last_used = (await one.list_keys("alice"))[0].last_used_at
    assert last_used is not None
    assert last_used >= first


async def test_sign_in_lookup_does_the_same_redis_work_for_any_wrong_key(redis_client: Redis) -> None:
    """Malformed, unknown and revoked keys cost one GET each, like a live key: timing tells nothing."""
    store = KeyStore(redis_client)
    await store.ensure_user("alice", "free")
    live = await store.create_key("alice")
    revoked = await store.create_key("alice")
    await store.revoke(revoked)
    for candidate in ("nonsense", "sk_live_" + "A" * 32, revoked, live):
        await redis_client.config_resetstat()
        found = await store.owner(candidate)
        stats = await redis_client.info("commandstats")
        assert {name for name in stats if not name.startswith(("cmdstat_config", "cmdstat_info"))} == {"cmdstat_get"}
        assert stats["cmdstat_get"]["calls"] == 1
        assert (found is not None) == (candidate == live)
