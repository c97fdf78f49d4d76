"""The one place where exceptions become HTTP responses."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from origin.app_keys import METRICS
from origin.envelope import error
from origin.errors import ApiError, StorageError
from origin.metrics import ERROR_CODE

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


def api_error_response(exc: ApiError) -> web.Response:
    return error(exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        request[ERROR_CODE] = exc.code
        return api_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "HTTP_ERROR")
        request[ERROR_CODE] = code
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error(exc.status, code, exc.reason, headers=headers)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("redis unavailable: %s", exc)
        request[ERROR_CODE] = "REDIS_UNAVAILABLE"
        if METRICS in request.app:
            request.app[METRICS].redis_errors.inc()
        return error(503, "SERVICE_UNAVAILABLE", "metadata store unavailable", headers={"Retry-After": "5"})
    except StorageError as exc:
        log.warning("storage unavailable: %s", exc)
        request[ERROR_CODE] = "STORAGE_UNAVAILABLE"
        return error(503, "SERVICE_UNAVAILABLE", "object storage unavailable", headers={"Retry-After": "5"})
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500, "INTERNAL_ERROR", "internal error")
