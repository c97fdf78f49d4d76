"""``/v1/openapi.json``: the API's published contract, served from the file kept beside this module.

``openapi.json`` is the source of truth for clients; the test suite checks it against the router
(every ``/v1`` route is described and nothing else is) and fuzzes the live app against it, so it
cannot drift from the handlers unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

#: Loaded relative to this file, so an editable install and a wheel with package data both find it.
SPEC_PATH = Path(__file__).with_name("openapi.json")
SPEC_URL = "/v1/openapi.json"


def load_spec() -> dict[str, Any]:
    """The description as a dict (tests and tools read it without a server)."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def add_routes(app: web.Application) -> None:
    # Read and re-serialised once at start-up: a broken file fails the start, not the first request.
    body = json.dumps(load_spec(), ensure_ascii=False, separators=(",", ":")).encode()

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type="application/json", headers={"Cache-Control": "public, max-age=300"}
        )

    app.router.add_get(SPEC_URL, openapi)
