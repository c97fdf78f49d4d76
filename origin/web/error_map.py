"""The one place where exceptions become HTTP responses (with the error code metrics count)."""

from __future__ import annotations

import logging

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from origin.app_keys import METRICS
from origin.errors import ApiError, StorageError
from origin.web.envelope import error

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def error_response(request: web.Request, exc: Exception) -> tuple[web.Response, str]:
    """The JSON error answer for what a handler raised, and its code. ``HTTPException``s below 400
    (redirects) are answers, not errors: the caller re-raises those instead."""
    if isinstance(exc, ApiError):
        if exc.plain_text:
            headers = {"Cache-Control": "no-store", **exc.headers}
            return web.Response(status=exc.status, text=exc.message + "\n", headers=headers), exc.code
        return error(exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers), exc.code
    if isinstance(exc, web.HTTPException):
        code = _STATUS_CODES.get(exc.status, "HTTP_ERROR")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error(exc.status, code, exc.reason, headers=headers), code
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        log.warning("redis unavailable: %s", exc)
        if METRICS in request.app:
            request.app[METRICS].redis_errors.inc()
        answer = error(503, "SERVICE_UNAVAILABLE", "metadata store unavailable", headers={"Retry-After": "5"})
        return answer, "REDIS_UNAVAILABLE"
    if isinstance(exc, StorageError):
        log.warning("storage unavailable: %s", exc)
        answer = error(503, "SERVICE_UNAVAILABLE", "object storage unavailable", headers={"Retry-After": "5"})
        return answer, "STORAGE_UNAVAILABLE"
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error(500, "INTERNAL_ERROR", "internal error"), "INTERNAL_ERROR"
