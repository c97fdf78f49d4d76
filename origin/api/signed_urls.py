"""``POST /v1/images/{id}/signed-url``: a time-limited media URL the owner can hand to anyone."""

from __future__ import annotations

import time

from aiohttp import web

from auth.signed_urls import rounded_expiry, signed_query
from origin.api.images import image_id_from
from origin.api.json_body import json_object
from origin.api.views import iso_utc
from origin.app_keys import IMAGES, SETTINGS, SIGNING_KEYS
from origin.errors import ValidationFailed
from origin.web.callers import caller
from origin.web.envelope import ok


async def create_signed_url(request: web.Request) -> web.Response:
    principal = await caller(request)
    record = await request.app[IMAGES].get(principal, image_id_from(request))
    access = request.app[SETTINGS].access
    body = await json_object(request, optional=True)
    unknown = set(body) - {"expiresIn"}
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}; allowed: expiresIn")
    expires_in = body.get("expiresIn", access.signed_url_default_seconds)
    if isinstance(expires_in, float) and expires_in.is_integer():
        expires_in = int(expires_in)  # JSON has one number type: 600.0 is the whole number 600
    if isinstance(expires_in, bool) or not isinstance(expires_in, int):
        raise ValidationFailed("expiresIn must be a whole number of seconds")
    if not 1 <= expires_in <= access.signed_url_max_seconds:
        raise ValidationFailed(f"expiresIn must be between 1 and {access.signed_url_max_seconds} seconds")
    expires = rounded_expiry(time.time(), expires_in, access.signed_url_window_seconds)
    path = f"/{record.object_key}"
    query = signed_query(request.app[SIGNING_KEYS][0], path, expires)
    url = f"{request.app[SETTINGS].media_base_url}{path}?{query}"
    return ok({"url": url, "expiresAt": iso_utc(expires * 1000)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/images/{image_id}/signed-url", create_signed_url)
