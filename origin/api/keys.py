"""``/v1/keys``: the caller's API keys. A key is shown once, when created; lists show its prefix.

Revoking a key stops it and every session signed in with it at once on every instance: both
are checked against Redis on every use, never cached.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from aiohttp import web

from auth.api_keys import MAX_KEYS_PER_USER, KeyInfo, TooManyKeys
from origin.api.json_body import json_object
from origin.api.views import iso_utc
from origin.app_keys import KEYS
from origin.errors import Conflict, NotFound, ValidationFailed
from origin.web.callers import caller
from origin.web.envelope import ok

MAX_NAME = 64


def key_view(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "prefix": info.prefix,
        "createdAt": iso_utc(info.created_ms) if info.created_ms is not None else None,
        "lastUsedAt": iso_utc(info.last_used_at * 1000) if info.last_used_at is not None else None,
    }


def _name(body: dict[str, Any]) -> str:
    unknown = set(body) - {"name"}
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}; allowed: name")
    raw = body.get("name")
    if not isinstance(raw, str):
        raise ValidationFailed("name must be a string, e.g. the device the key is for")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not 1 <= len(name) <= MAX_NAME or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValidationFailed(f"name must be 1 to {MAX_NAME} printable characters")
    return name


async def list_keys(request: web.Request) -> web.Response:
    principal = await caller(request)
    return ok({"items": [key_view(info) for info in await request.app[KEYS].list_keys(principal.user_id)]})


async def create_key(request: web.Request) -> web.Response:
    principal = await caller(request)
    name = _name(await json_object(request))
    try:
        issued = await request.app[KEYS].issue(principal.user_id, name, limit=MAX_KEYS_PER_USER)
    except TooManyKeys as exc:
        raise Conflict(
            f"at most {MAX_KEYS_PER_USER} API keys per user: revoke one first",
            code="TOO_MANY_KEYS",
            details={"maxKeys": MAX_KEYS_PER_USER},
        ) from exc
    view = key_view(issued.info)
    del view["lastUsedAt"]
    response = ok({**view, "key": issued.key}, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


async def revoke_key(request: web.Request) -> web.Response:
    principal = await caller(request)
    key_id = request.match_info["key_id"]
    if not await request.app[KEYS].revoke_id(principal.user_id, key_id):
        raise NotFound("no such API key")
    return ok({"id": key_id, "deleted": True})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/keys", list_keys)
    app.router.add_post("/v1/keys", create_key)
    app.router.add_delete("/v1/keys/{key_id}", revoke_key)
