"""Where signed-URL keys come from: configuration, or one generated key shared through Redis."""

from __future__ import annotations

import secrets

from auth.redis_types import RedisClient, text

GENERATED_KEY = "config:signing-key"


async def signing_keys(redis: RedisClient, configured: tuple[str, ...]) -> tuple[str, ...]:
    """The configured keys; with none, a random key made once and shared by every instance."""
    if configured:
        return configured
    await redis.set(GENERATED_KEY, secrets.token_urlsafe(48), nx=True)
    key = text(await redis.get(GENERATED_KEY))
    if key is None:
        raise RuntimeError("signing key vanished from Redis")
    return (key,)
