"""The app factory: the only place that creates shared objects, one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from auth.api_keys import KeyStore
from auth.hotlink import HotlinkStore
from auth.jwt_sessions import JwtVerifier
from auth.rate_limit import RateLimiter
from auth.signing_keys import signing_keys
from cache.body_cache import BodyCache
from config import Settings
from origin import media, ops
from origin.api import access as access_api
from origin.api import images as images_api
from origin.api import usage as usage_api
from origin.app_keys import (
    BODIES,
    CATALOG,
    DELETIONS,
    HOTLINK,
    IMAGES,
    JWT,
    KEYS,
    METADATA,
    RATES,
    REDIS,
    SETTINGS,
    SIGNING_KEYS,
    STORAGE,
)
from origin.deletion_queue import DeletionQueue
from origin.error_middleware import error_middleware
from origin.hotlink_cache import HotlinkRulesCache
from origin.image_service import ChangeListener, ImageService
from origin.media_bodies import BodySource
from origin.media_catalog import MediaCatalog
from origin.metadata import ImageRecord, MetadataRepository
from origin.redis_client import open_redis
from origin.storage.filesystem import FilesystemStorage
from origin.storage.s3 import S3Storage, open_s3_client

#: How often every instance retries storage deletes that failed.
DELETION_RETRY_SECONDS = 30.0


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    async with open_redis(app[SETTINGS]) as client:
        app[REDIS] = client
        yield


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.storage == "s3":
        async with open_s3_client(settings.s3) as client:
            app[STORAGE] = S3Storage(client, settings.s3.bucket, settings.s3.prefix)
            yield
    else:
        app[STORAGE] = FilesystemStorage(settings.objects_dir)
        yield


async def services_context(app: web.Application) -> AsyncIterator[None]:
    settings, redis, storage = app[SETTINGS], app[REDIS], app[STORAGE]
    app[METADATA] = MetadataRepository(redis)
    app[KEYS] = KeyStore(redis)
    app[DELETIONS] = DeletionQueue(redis, storage)
    app[IMAGES] = ImageService(settings, app[METADATA], storage, app[DELETIONS])
    app[CATALOG] = MediaCatalog(app[METADATA], settings)
    app[BODIES] = BodySource(storage, BodyCache(settings.cache_bytes, settings.cache_max_object_bytes))
    app[IMAGES].listeners.append(local_invalidation(app))
    app[JWT] = JwtVerifier(settings.access.jwt)
    app[RATES] = RateLimiter(redis)
    app[HOTLINK] = HotlinkRulesCache(HotlinkStore(redis), settings.metadata_ttl_seconds)
    app[SIGNING_KEYS] = await signing_keys(redis, settings.access.signing_keys)
    retry = asyncio.create_task(app[DELETIONS].run(DELETION_RETRY_SECONDS), name="deletion-retry")
    yield
    retry.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await retry


def local_invalidation(app: web.Application) -> ChangeListener:
    """A change made through this instance takes effect on it at once."""

    async def invalidate(record: ImageRecord) -> None:
        app[CATALOG].invalidate(record.id)
        app[BODIES].discard(record.object_key)

    return invalidate


def create_app(settings: Settings) -> web.Application:
    """Build the origin for ``settings``; resources open when the app starts."""
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.extend([redis_context, storage_context, services_context])
    ops.add_routes(app)
    usage_api.add_routes(app)
    images_api.add_routes(app)
    access_api.add_routes(app)
    media.add_routes(app)
    return app
