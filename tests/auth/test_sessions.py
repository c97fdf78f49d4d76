"""Origin-issued sessions against a real redis-server: sign-in, verification, sign-out, revocation."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from redis.asyncio import Redis

from auth.api_keys import KeyStore, digest
from auth.jwt_sessions import InvalidToken
from auth.keyspace import key_sessions_key, session_key
from auth.sessions import GENERATED_KEY, TOKEN_TYPE, SessionStore, is_session_token, session_keys

KEY = "s" * 48
OLD_KEY = "o" * 48


async def _signed_in(redis: Redis, store: SessionStore, user: str = "alice") -> tuple[KeyStore, str, str]:
    keys = KeyStore(redis)
    await keys.ensure_user(user, "pro")
    api_key = await keys.create_key(user)
    token, _ = await store.create(user, digest(api_key))
    return keys, api_key, token


async def test_a_token_names_a_live_session_with_its_csrf_token_and_plan(redis_client: Redis) -> None:
    store = SessionStore(redis_client, (KEY,), ttl_seconds=3600)
    keys = KeyStore(redis_client)
    await keys.ensure_user("alice", "pro")
    api_key = await keys.create_key("alice")
    token, created = await store.create("alice", digest(api_key))
    assert is_session_token(token)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": TOKEN_TYPE}
    session = await store.verify(token)
    assert session == created.__class__(
        id=created.id,
        user_id="alice",
        plan="pro",
        key_digest=digest(api_key),
        csrf_token=created.csrf_token,
        expires_at=created.expires_at,
    )
    assert abs(session.expires_at - (time.time() + 3600)) < 5
    assert len(session.csrf_token) >= 40
    assert 3590 <= await redis_client.ttl(session_key("alice", session.id)) <= 3600


async def test_sign_out_ends_the_session_for_every_store_at_once(redis_client: Redis) -> None:
    one = SessionStore(redis_client, (KEY,), ttl_seconds=3600)
    other = SessionStore(redis_client, (KEY,), ttl_seconds=3600)  # another instance
    _, _, token = await _signed_in(redis_client, one)
    session = await other.verify(token)
    await one.end(session)
    with pytest.raises(InvalidToken, match="ended"):
        await other.verify(token)
    assert await redis_client.smembers(key_sessions_key("alice", session.key_digest)) == set()


async def test_revoking_the_key_ends_every_session_signed_in_with_it_and_no_other(redis_client: Redis) -> None:
    store = SessionStore(redis_client, (KEY,), ttl_seconds=3600)
    keys, api_key, first = await _signed_in(redis_client, store)
    second, _ = await store.create("alice", digest(api_key))
    other_key = await keys.create_key("alice")
    survivor, _ = await store.create("alice", digest(other_key))
    assert await keys.revoke(api_key)
    for token in (first, second):
        with pytest.raises(InvalidToken):
            await store.verify(token)
    assert (await store.verify(survivor)).key_digest == digest(other_key)
    with pytest.raises(InvalidToken, match="revoked"):
        await store.create("alice", digest(api_key))  # a sign-in that raced the revocation


async def test_a_sign_in_racing_the_revocation_leaves_no_session(redis_client: Redis) -> None:
    store = SessionStore(redis_client, (KEY,), ttl_seconds=3600)
    keys = KeyStore(redis_client)
    await keys.ensure_user("alice", "free")
    for _ in range(20):
        api_key = await keys.create_key("alice")
        results = await asyncio.gather(
            *(store.create("alice", digest(api_key)) for _ in range(5)), keys.revoke(api_key), return_exceptions=True
        )
        tokens = [r[0] for r in results if isinstance(r, tuple)]
        assert all(isinstance(r, (tuple, InvalidToken, bool)) for r in results), results
        for token in tokens:
            with pytest.raises(InvalidToken):
                await store.verify(token)


async def test_expired_tampered_forged_and_foreign_tokens_are_refused(redis_client: Redis) -> None:
    store = SessionStore(redis_client, (KEY,), ttl_seconds=3600)
    _, api_key, token = await _signed_in(redis_client, store)
    session = await store.verify(token)
    now = int(time.time())
    claims = {"sub": "alice", "sid": session.id, "iat": now - 10, "exp": now + 600}
    header = {"typ": TOKEN_TYPE}
    head, _body, signature = token.split(".")
    other_user = jwt.encode({**claims, "sub": "mallory"}, "x" * 48, algorithm="HS256", headers=header)
    refused = {
        "expired": jwt.encode({**claims, "exp": now - 1}, KEY, algorithm="HS256", headers=header),
        "tampered": f"{head}.{other_user.split('.')[1]}.{signature}",
        "foreign key": jwt.encode(claims, "f" * 48, algorithm="HS256", headers=header),
        "alg none": jwt.encode(claims, "", algorithm="none", headers=header),
        "HS512": jwt.encode(claims, KEY + KEY, algorithm="HS512", headers=header),
        "no sid": jwt.encode({"sub": "alice", "iat": now, "exp": now + 600}, KEY, algorithm="HS256", headers=header),
        "bad sid": jwt.encode({**claims, "sid": "../x"}, KEY, algorithm="HS256", headers=header),
        "bad sub": jwt.encode({**claims, "sub": "a b"}, KEY, algorithm="HS256", headers=header),
        "unknown session": jwt.encode({**claims, "sid": "A" * 22}, KEY, algorithm="HS256", headers=header),
        "not ours": jwt.encode(claims, KEY, algorithm="HS256"),
        "garbage": "not.a.token",
        "empty": "",
    }
    for name, bad in refused.items():
        with pytest.raises(InvalidToken):
            await store.verify(bad)
        assert name  # each case named for the failure message
    assert (await store.verify(token)).user_id == "alice"
    assert api_key


async def test_the_record_expiring_ends_the_session_even_if_the_token_has_not(redis_client: Redis) -> None:
    store = SessionStore(redis_client, (KEY,), ttl_seconds=1)
    _, _, token = await _signed_in(redis_client, store)
    await store.verify(token)
    await asyncio.sleep(2.1)
    with pytest.raises(InvalidToken):
        await store.verify(token)


async def test_the_first_key_signs_and_every_key_verifies(redis_client: Redis) -> None:
    old = SessionStore(redis_client, (OLD_KEY,), ttl_seconds=3600)
    _, _, old_token = await _signed_in(redis_client, old)
    rotated = SessionStore(redis_client, (KEY, OLD_KEY), ttl_seconds=3600)
    assert (await rotated.verify(old_token)).user_id == "alice"
    _, _, new_token = await _signed_in(redis_client, rotated, "bob")
    assert (await SessionStore(redis_client, (KEY,), ttl_seconds=3600).verify(new_token)).user_id == "bob"
    with pytest.raises(InvalidToken):
        await old.verify(new_token)
    with pytest.raises(InvalidToken):
        await SessionStore(redis_client, (KEY,), ttl_seconds=3600).verify(old_token)


async def test_an_unconfigured_key_is_generated_once_and_shared(redis_client: Redis) -> None:
    first, second = await asyncio.gather(session_keys(redis_client, ()), session_keys(redis_client, ()))
    assert first == second == (await redis_client.get(GENERATED_KEY),)
    assert len(first[0]) >= 32
    assert await session_keys(redis_client, (KEY,)) == (KEY,)
