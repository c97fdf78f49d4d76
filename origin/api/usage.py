"""``/v1/usage``: the caller's plan and how much of its storage quota is used."""

from __future__ import annotations

from aiohttp import web

from origin.app_keys import METADATA, SETTINGS
from origin.web.callers import caller
from origin.web.envelope import ok


async def usage(request: web.Request) -> web.Response:
    principal = await caller(request)
    plan = request.app[SETTINGS].plan(principal.plan)
    used = await request.app[METADATA].used_bytes(principal.user_id)
    return ok(
        {
            "plan": plan.name,
            "maxFileBytes": plan.max_file_bytes,
            "img_storage": {"usedBytes": used, "limitBytes": plan.storage_bytes},
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/usage", usage)
