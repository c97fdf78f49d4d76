"""Typed keys for the objects the app factory creates and the handlers share."""

from __future__ import annotations

import asyncio

from aiohttp import web

from auth.api_keys import KeyStore
from auth.jwt_sessions import JwtVerifier
from auth.rate_limit import RateLimiter
from auth.redis_types import RedisClient
from auth.sessions import SessionStore
from config import Settings
from origin.dashboard.assets import Bundle
from origin.fanout.cdn_purge import CdnPurger
from origin.fanout.invalidation import InvalidationBus
from origin.images.deletion_queue import DeletionQueue
from origin.images.metadata import MetadataRepository
from origin.images.service import ImageService
from origin.media.bodies import BodySource
from origin.media.catalog import MediaCatalog
from origin.media.hotlink_memo import HotlinkRulesCache
from origin.storage import ObjectStorage
from origin.variants.store import VariantStore
from origin.web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
#: Uploads being received by this process; the rest wait for a 503 and retry.
UPLOAD_SLOTS = web.AppKey("upload_slots", asyncio.Semaphore)
METRICS = web.AppKey("metrics", Metrics)
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
STORAGE = web.AppKey("storage", ObjectStorage)
METADATA = web.AppKey("metadata", MetadataRepository)
KEYS = web.AppKey("keys", KeyStore)
DELETIONS = web.AppKey("deletions", DeletionQueue)
IMAGES = web.AppKey("images", ImageService)
CATALOG = web.AppKey("catalog", MediaCatalog)
BODIES = web.AppKey("bodies", BodySource)
JWT = web.AppKey("jwt", JwtVerifier)
#: Sessions the origin issues itself (keys, TTL and records).
SESSIONS = web.AppKey("sessions", SessionStore)
RATES = web.AppKey("rates", RateLimiter)
HOTLINK = web.AppKey("hotlink", HotlinkRulesCache)
INVALIDATION = web.AppKey("invalidation", InvalidationBus)
CDN_PURGER = web.AppKey("cdn_purger", CdnPurger)
#: Variant objects: found in storage or rendered once (``?w=N``).
VARIANTS = web.AppKey("variants", VariantStore)
#: Signed-URL keys: the first signs, all verify.
SIGNING_KEYS = web.AppKey("signing_keys", tuple[str, ...])
#: The dashboard's assets and page shells, read and hashed at start-up.
DASHBOARD = web.AppKey("dashboard", Bundle)
