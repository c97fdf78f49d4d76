"""``GET|HEAD /{id}.{ext}``: the media path (minimal form; see the media-serving issue)."""

from __future__ import annotations

from aiohttp import web

from origin.api.callers import optional_principal
from origin.app_keys import METADATA, STORAGE
from origin.errors import NotFound, Unauthorized
from origin.intake.formats import BY_EXT
from origin.metadata import ImageRecord

MEDIA_PATH = r"/{image_id:[A-Za-z0-9_-]{11}}.{ext:[A-Za-z0-9]{1,8}}"


async def authorize(request: web.Request, record: ImageRecord) -> bool:
    """True when the response is for the owner (private); raises for anyone else."""
    if record.is_public:
        return False
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("this image is private")
    if principal.user_id != record.owner:
        raise NotFound("no such image")
    return True


async def serve_media(request: web.Request) -> web.StreamResponse:
    image_id, ext = request.match_info["image_id"], request.match_info["ext"]
    if ext not in BY_EXT:
        raise NotFound("no such image")
    record = await request.app[METADATA].get(image_id)
    if record is None or record.ext != ext:
        raise NotFound("no such image")
    private = await authorize(request, record)
    response = web.StreamResponse(
        headers={
            "Content-Type": record.content_type,
            "ETag": record.etag,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store" if private else "public, max-age=3600",
        }
    )
    response.content_length = record.size
    await response.prepare(request)
    if request.method == "GET":
        async for chunk in request.app[STORAGE].stream(record.object_key):
            await response.write(chunk)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(MEDIA_PATH, serve_media)
