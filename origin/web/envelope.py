"""The JSON envelopes every API response uses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ok(data: Any, *, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status, dumps=_dumps)


def error(
    status: int,
    code: str,
    message: str,
    *,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, **(details or {})}
    response = web.json_response({"success": False, "error": body}, status=status, dumps=_dumps)
    response.headers.update(headers or {})
    response.headers.setdefault("Cache-Control", "no-store")
    return response
