"""Sessions the origin issues itself: a signed token in the cookie, naming a record in Redis.

The token (pyjwt, HS256, header ``typ: picora-session`` so it is never confused with an external
JWT) only says who and which session; the record says whether the session still exists. Deleting
the record (sign-out, or the revocation of the API key it was signed in with) therefore ends the
session at once on every instance, and nothing about sessions is looked up for requests that do
not carry one. Keys come as a list for rotation: the first signs, every one verifies.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from auth.jwt_sessions import InvalidToken
from auth.keyspace import USER_PATTERN, key_sessions_key, session_key, session_prefix, user_key, user_keys_key
from auth.redis_types import RedisClient, text, text_dict

TOKEN_TYPE = "picora-session"  # noqa: S105 - a JWT header value, not a secret
ALGORITHM = "HS256"
GENERATED_KEY = "config:session-key"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_REQUIRED = ["exp", "iat", "sub", "sid"]

#: Refused when the key is no longer live: a sign-in racing the key's revocation creates nothing.
_CREATE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], 'key', ARGV[1], 'csrf', ARGV[2], 'expires', ARGV[4], 'created', ARGV[5])
redis.call('EXPIRE', KEYS[2], ttl)
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('EXISTS', ARGV[6] .. sid) == 0 then redis.call('SREM', KEYS[3], sid) end
end
redis.call('SADD', KEYS[3], ARGV[7])
if redis.call('TTL', KEYS[3]) < ttl then redis.call('EXPIRE', KEYS[3], ttl) end
return 1
"""

_END_KEY_SESSIONS = """
local sids = redis.call('SMEMBERS', KEYS[1])
for _, sid in ipairs(sids) do redis.call('DEL', ARGV[1] .. sid) end
redis.call('DEL', KEYS[1])
return #sids
"""


@dataclass(frozen=True, slots=True)
class Session:
    """A live session; ``plan`` is the user's plan as stored (None: the default plan)."""

    id: str
    user_id: str
    plan: str | None
    key_digest: str
    csrf_token: str
    expires_at: int


async def session_keys(redis: RedisClient, configured: tuple[str, ...]) -> tuple[str, ...]:
    """The configured keys; with none, a random key made once and shared by every instance."""
    if configured:
        return configured
    await redis.set(GENERATED_KEY, secrets.token_urlsafe(48), nx=True)
    key = text(await redis.get(GENERATED_KEY))
    if key is None:
        raise RuntimeError("session key vanished from Redis")
    return (key,)


def is_session_token(token: str) -> bool:
    """Whether ``token`` claims to be one of ours (unverified: it only picks the verifier)."""
    try:
        return jwt.get_unverified_header(token).get("typ") == TOKEN_TYPE
    except (jwt.PyJWTError, ValueError, TypeError):
        return False


async def end_key_sessions(redis: RedisClient, user_id: str, digest: str) -> int:
    """End every session signed in with the key ``digest``; how many there were."""
    ended = await redis.eval(_END_KEY_SESSIONS, 1, key_sessions_key(user_id, digest), session_prefix(user_id))
    return int(ended)


class SessionStore:
    """Sign in (a token and its record), verify a token against its record, sign out."""

    def __init__(self, redis: RedisClient, keys: tuple[str, ...], ttl_seconds: int) -> None:
        if not keys:
            raise ValueError("at least one session key is needed")
        self.redis = redis
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._create = redis.register_script(_CREATE)

    async def create(self, user_id: str, key_digest: str, plan: str | None = None) -> tuple[str, Session]:
        """A new session for the holder of the key ``key_digest``; ``InvalidToken`` if the key is gone."""
        now = int(time.time())
        session = Session(
            id=secrets.token_urlsafe(16),
            user_id=user_id,
            plan=plan,
            key_digest=key_digest,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + self.ttl_seconds,
        )
        created = await self._create(
            keys=[user_keys_key(user_id), session_key(user_id, session.id), key_sessions_key(user_id, key_digest)],
            args=[
                key_digest,
                session.csrf_token,
                self.ttl_seconds,
                session.expires_at,
                now,
                session_prefix(user_id),
                session.id,
            ],
        )
        if not int(created):
            raise InvalidToken("the API key was revoked")
        claims = {"sub": user_id, "sid": session.id, "iat": now, "exp": session.expires_at}
        token = jwt.encode(claims, self.keys[0], algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})
        return token, session

    def _claims(self, token: str) -> tuple[str, str]:
        """(user id, session id) of a token signed by one of our keys and not expired."""
        if not is_session_token(token):
            raise InvalidToken("not a session token of this origin")
        claims: dict[str, Any] | None = None
        for key in self.keys:  # every key, always: timing does not tell which key (if any) matched
            try:
                decoded = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": _REQUIRED})
            except jwt.InvalidSignatureError:
                continue
            except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
                raise InvalidToken(str(exc) or type(exc).__name__) from exc
            claims = claims or decoded
        if claims is None:
            raise InvalidToken("signature verification failed")
        user_id, session_id = claims.get("sub"), claims.get("sid")
        if not isinstance(user_id, str) or not USER_PATTERN.fullmatch(user_id):
            raise InvalidToken("sub is not a valid user id")
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise InvalidToken("sid is not a session id")
        return user_id, session_id

    async def verify(self, token: str) -> Session:
        """The live session a token names; ``InvalidToken`` when forged, expired or ended."""
        user_id, session_id = self._claims(token)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(session_key(user_id, session_id))
            pipe.hget(user_key(user_id), "plan")
            record_raw, plan = await pipe.execute()
        record = text_dict(record_raw)
        expires = record.get("expires", "")
        if not record.get("key") or not record.get("csrf") or not expires.isdigit():
            raise InvalidToken("the session has ended")
        if int(expires) <= time.time():
            raise InvalidToken("the session has expired")
        return Session(
            id=session_id,
            user_id=user_id,
            plan=text(plan),
            key_digest=record["key"],
            csrf_token=record["csrf"],
            expires_at=int(expires),
        )

    async def end(self, session: Session) -> None:
        """Sign out: the record goes, so every instance refuses the token from now on."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(session_key(session.user_id, session.id))
            pipe.srem(key_sessions_key(session.user_id, session.key_digest), session.id)
            await pipe.execute()
