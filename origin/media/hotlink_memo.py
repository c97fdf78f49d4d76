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

    async def get(self, owner: str) -> HotlinkRules:
        return await self.rules.get(owner)

    def known_off(self, owner: str) -> bool:
        """The owner is known (memoised, fresh) to have no hotlink rules: decided without awaiting."""
        found, rules = self.rules.peek(owner)
        return found and rules is not None and not rules.enabled

    def invalidate(self, owner: str) -> None:
        self.rules.invalidate(owner)

    def clear(self) -> None:
        self.rules.clear()
