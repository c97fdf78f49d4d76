"""Users and their API keys in Redis.

Keys are ``sk_live_`` plus 32 random base62 characters (190 bits), shown once and stored only as a
SHA-256 digest: with that much entropy a fast hash cannot be brute-forced, and lookups stay one
GET. A key's public id is the first 16 hex digits of its digest (nothing of the key can be
recovered from it); its name, recognisable prefix and creation time sit beside the digest, and
its last use is written at most once a minute. Revoking a key ends every session signed in with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from dataclasses import dataclass

from auth.keyspace import (
    USER_PATTERN,
    digest_key,
    key_info_key,
    key_used_key,
    user_key,
    user_keys_key,
)
from auth.principal import Principal
from auth.redis_types import RedisClient, text, text_dict
from auth.sessions import end_key_sessions

__all__ = ["KEY_PATTERN", "KEY_PREFIX", "USER_PATTERN", "InvalidUser", "KeyInfo", "KeyStore", "TooManyKeys"]

KEY_PREFIX = "sk_live_"
_KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_BODY = 32
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}[A-Za-z0-9]{{{_KEY_BODY}}}$")
KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
#: Enough of a key to recognise it in a list (``sk_live_AbC1…``), far too little to guess it.
SHOWN_CHARACTERS = len(KEY_PREFIX) + 4
#: Keys a user may create through the API (the operator's CLI is not capped).
MAX_KEYS_PER_USER = 20
#: ``lastUsedAt`` is written at most this often per key.
LAST_USED_RESOLUTION = 60

_ADD = """
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('SCARD', KEYS[1]) >= limit then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

_FORGET = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
"""

#: On Redis's clock, so instances agree; only for a live key, so a revoked one is not written back.
_TOUCH = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
local now = tonumber(redis.call('TIME')[1])
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if now - last < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], now)
return 1
"""


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_id(key_digest: str) -> str:
    return key_digest[:16]


def new_api_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(_KEY_BODY))


class InvalidUser(ValueError):
    """A user id with characters we do not allow (they end up in Redis keys and logs)."""


class TooManyKeys(Exception):
    """The user already has as many keys as allowed."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a key. Keys made before names existed have no name or creation time."""

    id: str
    name: str
    prefix: str
    #: Milliseconds since the epoch, so keys made within one second still list in order.
    created_ms: int | None
    last_used_at: int | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    info: KeyInfo


class KeyStore:
    """Create users, issue, list and revoke keys, resolve a key to its principal."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._add = redis.register_script(_ADD)
        self._forget = redis.register_script(_FORGET)
        self._touch = redis.register_script(_TOUCH)
        #: digest -> monotonic time this process last asked Redis to note a use.
        self._touched: dict[str, float] = {}

    async def ensure_user(self, user_id: str, plan: str) -> None:
        """Create the user on the plan if new; an existing user's plan is changed only when asked."""
        if not USER_PATTERN.fullmatch(user_id):
            raise InvalidUser(f"user id must match {USER_PATTERN.pattern}: {user_id!r}")
        key = user_key(user_id)
        await self.redis.hsetnx(key, "created", str(int(time.time())))
        await self.redis.hset(key, "plan", plan)

    async def user_plan(self, user_id: str) -> str | None:
        return text(await self.redis.hget(user_key(user_id), "plan"))

    async def issue(self, user_id: str, name: str = "", *, limit: int | None = None) -> IssuedKey:
        """A new key for the user (``TooManyKeys`` when ``limit`` keys exist already)."""
        api_key = new_api_key()
        hashed = digest(api_key)
        info = KeyInfo(key_id(hashed), name, api_key[:SHOWN_CHARACTERS] + "…", int(time.time() * 1000), None)
        stored = json.dumps({"name": info.name, "prefix": info.prefix, "createdMs": info.created_ms})
        added = await self._add(keys=[user_keys_key(user_id), key_info_key(user_id)], args=[hashed, stored, limit or 0])
        if not int(added):
            raise TooManyKeys(f"at most {limit} keys per user")
        await self.redis.set(digest_key(hashed), user_id)
        return IssuedKey(api_key, info)

    async def create_key(self, user_id: str, name: str = "") -> str:
        return (await self.issue(user_id, name)).key

    async def list_keys(self, user_id: str) -> list[KeyInfo]:
        """The user's live keys, oldest first."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(user_keys_key(user_id))
            pipe.hgetall(key_info_key(user_id))
            pipe.hgetall(key_used_key(user_id))
            members, infos_raw, used_raw = await pipe.execute()
        infos, used = text_dict(infos_raw), text_dict(used_raw)
        keys = []
        for hashed in (text(m) or "" for m in members):
            stored = json.loads(infos[hashed]) if hashed in infos else {}
            last_used = used.get(hashed, "")
            keys.append(
                KeyInfo(
                    key_id(hashed),
                    str(stored.get("name", "")),
                    str(stored.get("prefix", KEY_PREFIX + "…")),
                    int(stored["createdMs"]) if "createdMs" in stored else None,
                    int(last_used) if last_used.isdigit() else None,
                )
            )
        return sorted(keys, key=lambda k: (k.created_ms or 0, k.id))

    async def _revoke_digest(self, user_id: str, hashed: str) -> bool:
        """Forget the key, then end its sessions: once it is out of the user's set no new session
        can be signed in with it, so none survives."""
        removed = await self._forget(
            keys=[user_keys_key(user_id), key_info_key(user_id), key_used_key(user_id)], args=[hashed]
        )
        await end_key_sessions(self.redis, user_id, hashed)
        self._touched.pop(hashed, None)
        return bool(int(removed))

    async def revoke(self, api_key: str) -> bool:
        hashed = digest(api_key)
        user_id = text(await self.redis.getdel(digest_key(hashed)))
        if user_id is None:
            return False
        await self._revoke_digest(user_id, hashed)
        return True

    async def revoke_id(self, user_id: str, public_id: str) -> bool:
        """Revoke the user's key with this id; False when the user has no such key."""
        if not KEY_ID_PATTERN.fullmatch(public_id):
            return False
        members = await self.redis.smembers(user_keys_key(user_id))
        matches = [h for h in (text(m) or "" for m in members) if key_id(h) == public_id]
        if not matches:
            return False
        for hashed in matches:
            await self.redis.delete(digest_key(hashed))
            await self._revoke_digest(user_id, hashed)
        return True

    async def owner(self, api_key: str) -> tuple[str, str] | None:
        """(user id, digest) of a live key. The same work whatever ``api_key`` is, well-formed or
        not, so the time taken says nothing about which keys exist (sign-in uses this)."""
        hashed = digest(api_key)
        user_id = text(await self.redis.get(digest_key(hashed)))
        if user_id is None or not KEY_PATTERN.fullmatch(api_key):
            return None
        return user_id, hashed

    async def resolve(self, api_key: str) -> Principal | None:
        """The principal behind a key, or None for unknown or revoked keys."""
        if not KEY_PATTERN.fullmatch(api_key):
            return None
        hashed = digest(api_key)
        user_id = text(await self.redis.get(digest_key(hashed)))
        if user_id is None:
            return None
        plan = await self.user_plan(user_id)
        await self.touch(user_id, hashed)
        return Principal(user_id=user_id, plan=plan or "free", key_digest=hashed)

    async def touch(self, user_id: str, hashed: str) -> None:
        """Note a use of the key: at most one Redis call per key per minute from this process, and
        one write per key per minute from all of them."""
        now = time.monotonic()
        if now - self._touched.get(hashed, -LAST_USED_RESOLUTION) < LAST_USED_RESOLUTION:
            return
        if len(self._touched) > 10_000:
            self._touched = {h: t for h, t in self._touched.items() if now - t < LAST_USED_RESOLUTION}
        self._touched[hashed] = now
        await self._touch(keys=[user_keys_key(user_id), key_used_key(user_id)], args=[hashed, LAST_USED_RESOLUTION])
