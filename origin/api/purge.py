"""``POST /v1/purge``: upstream services evict images from every origin instance and the CDN.

Authenticated by ``X-Picora-Signature`` (HMAC over timestamp and raw body, replay window), not by
an API key: the callers are services, not users. The body names ids and/or media URLs (query
strings ignored); every instance drops them from its caches, and the CDN is asked to forget them.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from auth.webhook_signature import HEADER, InvalidSignature, verify
from origin.app_keys import CDN_PURGER, INVALIDATION, METADATA, SETTINGS
from origin.errors import BadRequest, Unauthorized
from origin.images.ids import ID_PATTERN, MEDIA_PATH_PATTERN
from origin.media.urls import cdn_purge_targets
from origin.web.envelope import ok

MAX_ENTRIES = 1000
_CHALLENGE = {"WWW-Authenticate": f'{HEADER} realm="picora-purge"'}


def _strings(body: dict[str, Any], field: str) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"{field} must be an array of strings", code="INVALID_PURGE")
    return list(value)


def _ids_from(body: object) -> list[str]:
    if not isinstance(body, dict) or set(body) - {"ids", "urls"}:
        raise BadRequest('the body must be {"ids": [...]} and/or {"urls": [...]}', code="INVALID_PURGE")
    ids, urls = _strings(body, "ids"), _strings(body, "urls")
    if not ids and not urls:
        raise BadRequest("name at least one id or url", code="INVALID_PURGE")
    if len(ids) + len(urls) > MAX_ENTRIES:
        raise BadRequest(f"at most {MAX_ENTRIES} ids and urls per request", code="INVALID_PURGE")
    bad_ids = [image_id for image_id in ids if not ID_PATTERN.fullmatch(image_id)]
    from_urls = [MEDIA_PATH_PATTERN.fullmatch(urlsplit(url).path) for url in urls]
    bad_urls = [url for url, match in zip(urls, from_urls, strict=True) if match is None]
    if bad_ids or bad_urls:
        raise BadRequest(
            "some entries are not image ids or media URLs",
            code="INVALID_PURGE",
            details={"invalidIds": bad_ids[:20], "invalidUrls": bad_urls[:20]},
        )
    return list(dict.fromkeys(ids + [match.group(1) for match in from_urls if match]))


async def purge(request: web.Request) -> web.Response:
    raw = await request.read()
    settings = request.app[SETTINGS]
    try:
        verify(
            request.headers.get(HEADER),
            raw,
            settings.purge.secrets,
            now=time.time(),
            window=settings.purge.replay_window_seconds,
        )
    except InvalidSignature as exc:
        raise Unauthorized(str(exc), code="INVALID_SIGNATURE", headers=_CHALLENGE) from exc
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be JSON", code="INVALID_JSON") from exc
    ids = _ids_from(body)
    await request.app[INVALIDATION].publish(ids=ids)
    urls: list[str] = []
    tags: list[str] = []
    for image_id in ids:
        record = await request.app[METADATA].get(image_id)
        if record is not None:
            record_urls, record_tags = cdn_purge_targets(record, settings.media_base_url)
            urls.extend(record_urls)
            tags.extend(record_tags)
    queued = await request.app[CDN_PURGER].enqueue(urls, tags)
    return ok({"purged": {"ids": ids}, "cdn": {"urls": urls, "tags": tags, "queued": queued}}, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/purge", purge)
