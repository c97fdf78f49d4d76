"""Token buckets in Redis, per user and per kind of call (uploads apart from everything else).

A bucket holds up to one minute's allowance and refills continuously; the script reads Redis's
own clock so every instance agrees. Over the limit, the caller learns how long to wait.
"""

from __future__ import annotations

from auth.redis_types import RedisClient

_TAKE = """
local capacity = tonumber(ARGV[1])
local per_ms = capacity / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return {allowed, wait}
"""


class RateLimiter:
    def __init__(self, redis: RedisClient) -> None:
        self._take = redis.register_script(_TAKE)

    async def take(self, user_id: str, bucket: str, per_minute: int) -> float:
        """0 when the call may proceed, else the seconds to wait before the next one will."""
        allowed, wait_ms = await self._take(keys=[f"rate:{{{user_id}}}:{bucket}"], args=[per_minute])
        return 0.0 if allowed else max(int(wait_ms), 1) / 1000
