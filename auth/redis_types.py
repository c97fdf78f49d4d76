"""The Redis client type and narrowing of redis-py's ``bytes | str`` replies.

Every client here uses ``decode_responses=True``. These live in auth/, the lowest layer that keeps
state in Redis, so that auth/ never imports origin/ (origin.redis connects; auth only uses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster


def text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def text_list(values: Sequence[bytes | str]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def text_dict(values: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {text(k) or "": text(v) or "" for k, v in values.items()}
