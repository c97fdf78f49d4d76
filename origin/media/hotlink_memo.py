"""Owners' hotlink rules for the media path: memoised like metadata, so hits stay off Redis."""

from __future__ import annotations

from redis.exceptions import RedisError

from auth.hotlink import HotlinkRules, HotlinkStore
from cache.coherent_memo import CoherentMemo


class HotlinkRulesCache:
    def __init__(self, store: HotlinkStore, ttl: float) -> None:
        self.store = store
        self.rules: CoherentMemo[HotlinkRules] = CoherentMemo(
            ttl, store.get, errors=(RedisError,), stale_if_error=lambda rules: True
        )
        #: ``(True, rules)`` if memoised and fresh, without awaiting; ``(False, None)``: load them.
        self.peek = self.rules.peek

    async def get(self, owner: str) -> HotlinkRules:
        return await self.rules.get(owner)

    def invalidate(self, owner: str) -> None:
        self.rules.invalidate(owner)

    def clear(self) -> None:
        self.rules.clear()
