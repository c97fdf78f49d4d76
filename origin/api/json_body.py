"""Reading JSON request bodies, with one error for every way they can be wrong."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from origin.errors import BadRequest


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; ``optional`` lets an empty body stand for ``{}``."""
    if optional and not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be a JSON object", code="INVALID_JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="INVALID_JSON")
    return body
