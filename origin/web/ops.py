"""Endpoints for orchestrators: liveness and readiness."""

from __future__ import annotations

from aiohttp import web
from redis.exceptions import RedisError

from origin.app_keys import REDIS, STORAGE
from origin.errors import StorageError
from origin.web.envelope import error, ok


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its app has started (dependencies checked by ``/readyz``)."""
    return ok({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems: dict[str, str] = {}
    try:
        await request.app[REDIS].ping()
    except RedisError as exc:
        problems["redis"] = str(exc) or type(exc).__name__
    try:
        await request.app[STORAGE].check()
    except StorageError as exc:
        problems["storage"] = str(exc)
    if problems:
        return error(
            503, "NOT_READY", "dependencies unreachable", details={"unreachable": problems},
            headers={"Retry-After": "5"},
        )  # fmt: skip
    return ok({"status": "ready"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
