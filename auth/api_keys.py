"""Users and their API keys in Redis.

Keys are ``sk_live_`` plus 32 random base62 characters (190 bits), shown once and stored only as a
SHA-256 digest: with that much entropy a fast hash cannot be brute-forced, and lookups stay one
GET. A user's record and key set carry the user id as a hash tag, like all per-user keys.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import time

from auth.principal import Principal
from auth.redis_types import RedisClient, text

KEY_PREFIX = "sk_live_"
_KEY_ALPHABET = string.ascii_letters + string.digits
_KEY_BODY = 32
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}[A-Za-z0-9]{{{_KEY_BODY}}}$")
USER_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _user_key(user_id: str) -> str:
    return f"user:{{{user_id}}}"


def _user_keys_key(user_id: str) -> str:
    return f"apikeys:{{{user_id}}}"


def _digest_key(digest: str) -> str:
    return f"apikey:{digest}"


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(_KEY_BODY))


class InvalidUser(ValueError):
    """A user id with characters we do not allow (they end up in Redis keys and logs)."""


class KeyStore:
    """Create users, issue and revoke keys, resolve a key to its principal."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def ensure_user(self, user_id: str, plan: str) -> None:
        """Create the user on the plan if new; an existing user's plan is changed only when asked."""
        if not USER_PATTERN.fullmatch(user_id):
            raise InvalidUser(f"user id must match {USER_PATTERN.pattern}: {user_id!r}")
        key = _user_key(user_id)
        await self.redis.hsetnx(key, "created", str(int(time.time())))
        await self.redis.hset(key, "plan", plan)

    async def user_plan(self, user_id: str) -> str | None:
        return text(await self.redis.hget(_user_key(user_id), "plan"))

    async def create_key(self, user_id: str) -> str:
        api_key = new_api_key()
        hashed = digest(api_key)
        await self.redis.set(_digest_key(hashed), user_id)
        await self.redis.sadd(_user_keys_key(user_id), hashed)
        return api_key

    async def revoke(self, api_key: str) -> bool:
        hashed = digest(api_key)
        user_id = text(await self.redis.getdel(_digest_key(hashed)))
        if user_id is None:
            return False
        await self.redis.srem(_user_keys_key(user_id), hashed)
        return True

    async def resolve(self, api_key: str) -> Principal | None:
        """The principal behind a key, or None for unknown or revoked keys."""
        if not KEY_PATTERN.fullmatch(api_key):
            return None
        user_id = text(await self.redis.get(_digest_key(digest(api_key))))
        if user_id is None:
            return None
        plan = await self.user_plan(user_id)
        return Principal(user_id=user_id, plan=plan or "free")
