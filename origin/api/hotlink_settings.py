"""``/v1/settings/hotlink``: the owner's rules for which pages may embed their public images."""

from __future__ import annotations

from aiohttp import web

from auth.hotlink import parse_rules
from origin.api.json_body import json_object
from origin.app_keys import HOTLINK, INVALIDATION
from origin.errors import ValidationFailed
from origin.web.callers import caller
from origin.web.envelope import ok


async def get_hotlink(request: web.Request) -> web.Response:
    principal = await caller(request)
    return ok((await request.app[HOTLINK].store.get(principal.user_id)).view())


async def put_hotlink(request: web.Request) -> web.Response:
    principal = await caller(request)
    try:
        rules = parse_rules(await json_object(request))
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="INVALID_HOTLINK_RULES") from exc
    await request.app[HOTLINK].store.put(principal.user_id, rules)
    await request.app[INVALIDATION].publish(owners=[principal.user_id])
    return ok(rules.view())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/settings/hotlink", get_hotlink)
    app.router.add_put("/v1/settings/hotlink", put_hotlink)
