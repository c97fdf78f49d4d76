"""``/v1/images``: upload, list, read, change and delete the caller's images."""

from __future__ import annotations

import asyncio
import unicodedata

from aiohttp import web

from auth.principal import Principal
from origin.api.json_body import json_object
from origin.api.views import image_view
from origin.app_keys import IMAGES, METADATA, METRICS, SETTINGS, UPLOAD_SLOTS, VARIANTS
from origin.errors import BadRequest, NotFound, ServiceUnavailable, ValidationFailed
from origin.images.ids import ID_PATTERN
from origin.images.intake.prepare import IntakeLimits, prepare_image
from origin.images.intake.spool import check_declared_length, read_upload_form
from origin.images.tags import normalise_tag, normalise_tags, parse_tags_field
from origin.web.callers import caller
from origin.web.envelope import ok

MAX_FILENAME = 255
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "false", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise ValidationFailed(f"{field} must be true or false")


def clean_filename(raw: str) -> str:
    """The client's file name without directories or control characters, at most 255 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).strip()[:MAX_FILENAME]


def image_id_from(request: web.Request) -> str:
    image_id = request.match_info["image_id"]
    if not ID_PATTERN.fullmatch(image_id):
        raise NotFound("no such image")
    return image_id


async def upload(request: web.Request) -> web.Response:
    principal = await caller(request, "upload")
    settings = request.app[SETTINGS]
    plan = settings.plan(principal.plan)
    check_declared_length(request, plan.max_file_bytes)
    slots = request.app[UPLOAD_SLOTS]
    if slots.locked():
        # Each upload in progress holds buffers and a worker thread: bound them per process.
        raise ServiceUnavailable("too many uploads in progress here; retry shortly", retry_after=1)
    async with slots:
        return await _receive(request, principal, plan.max_file_bytes)


async def _receive(request: web.Request, principal: Principal, limit: int) -> web.Response:
    settings = request.app[SETTINGS]
    form = await read_upload_form(
        request,
        settings.spool_dir,
        limit=limit,
        chunk_size=settings.spool_chunk_bytes,
        stall_seconds=settings.upload_stall_seconds,
    )
    try:
        is_public = parse_bool(form.fields.get("isPublic", "true"), "isPublic")
        tags = parse_tags_field(form.fields["tags"]) if "tags" in form.fields else ()
        assert form.file_path is not None
        limits = IntakeLimits(settings.max_image_pixels, settings.svg_max_bytes)
        prepared = await asyncio.to_thread(prepare_image, form.file_path, form.work_dir, limits)
        record = await request.app[IMAGES].create(
            principal, prepared, filename=clean_filename(form.filename), is_public=is_public, tags=tags
        )
    finally:
        await form.discard()
    request.app[VARIANTS].render_soon(record)
    request.app[METRICS].uploads.labels(record.ext).inc()
    request.app[METRICS].upload_bytes.labels(record.ext).inc(record.size)
    return ok(image_view(record, settings.media_base_url), status=201)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", code="INVALID_LIMIT")
    return int(raw)


async def list_images(request: web.Request) -> web.Response:
    principal = await caller(request)
    query = request.query
    limit = _limit(query.get("limit"))
    tag = normalise_tag(query["tag"]) if query.get("tag") else None
    records, next_cursor = await request.app[METADATA].list(
        principal.user_id, limit=limit, cursor=query.get("cursor") or None, tag=tag
    )
    base = request.app[SETTINGS].media_base_url
    return ok({"items": [image_view(r, base) for r in records], "nextCursor": next_cursor})


async def get_image(request: web.Request) -> web.Response:
    principal = await caller(request)
    record = await request.app[IMAGES].get(principal, image_id_from(request))
    return ok(image_view(record, request.app[SETTINGS].media_base_url))


async def patch_image(request: web.Request) -> web.Response:
    principal = await caller(request)
    image_id = image_id_from(request)
    body = await json_object(request)
    unknown = set(body) - {"tags", "isPublic"}
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}; allowed: tags, isPublic")
    tags = normalise_tags(body["tags"]) if "tags" in body else None
    if "isPublic" in body and not isinstance(body["isPublic"], bool):
        raise ValidationFailed("isPublic must be true or false")
    is_public = body.get("isPublic")
    record = await request.app[IMAGES].update(principal, image_id, tags=tags, is_public=is_public)
    return ok(image_view(record, request.app[SETTINGS].media_base_url))


async def delete_image(request: web.Request) -> web.Response:
    principal = await caller(request)
    record = await request.app[IMAGES].delete(principal, image_id_from(request))
    return ok({"id": record.id, "deleted": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/images", upload)
    app.router.add_get("/v1/images", list_images)
    app.router.add_get("/v1/images/{image_id}", get_image)
    app.router.add_patch("/v1/images/{image_id}", patch_image)
    app.router.add_delete("/v1/images/{image_id}", delete_image)
