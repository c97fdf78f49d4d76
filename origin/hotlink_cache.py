"""Owners' hotlink rules for the media path: memoised like metadata, so hits stay off Redis."""

from __future__ import annotations

from auth.hotlink import HotlinkRules, HotlinkStore
from cache.single_flight import SingleFlight
from cache.ttl_cache import TtlMemo


class HotlinkRulesCache:
    def __init__(self, store: HotlinkStore, ttl: float) -> None:
        self.store = store
        self.memo: TtlMemo[HotlinkRules] = TtlMemo(ttl)
        self.flights: SingleFlight[HotlinkRules] = SingleFlight()

    async def get(self, owner: str) -> HotlinkRules:
        found, rules = self.memo.get(owner)
        if found and rules is not None:
            return rules
        return await self.flights.run(owner, lambda: self._load(owner))

    async def _load(self, owner: str) -> HotlinkRules:
        rules = await self.store.get(owner)
        self.memo.put(owner, rules)
        return rules

    def invalidate(self, owner: str) -> None:
        self.memo.discard(owner)

    def clear(self) -> None:
        self.memo.clear()
