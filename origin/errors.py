"""Domain errors: each carries its HTTP status, stable code and public message.

Handlers raise these; only ``origin.web.error_map`` turns them into responses, so every
error body in the product has the same envelope.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An error a client may see: status, stable ``code`` and a message safe to show."""

    status: int = 400
    code: str = "BAD_REQUEST"
    #: Answered as ``text/plain`` (the message alone) where a contract says so, instead of JSON.
    plain_text: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(ApiError):
    status, code = 400, "BAD_REQUEST"


class InvalidWidth(BadRequest):
    """``?w=`` on a media URL that is not an allowed width; the contract answers it in plain text."""

    code = "INVALID_WIDTH"
    plain_text = True


class ValidationFailed(ApiError):
    status, code = 400, "VALIDATION_ERROR"


class InvalidImage(ApiError):
    status, code = 400, "INVALID_IMAGE"


class Unauthorized(ApiError):
    status, code = 401, "UNAUTHORIZED"

    def __init__(self, message: str = "missing or invalid credentials", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="picora"'})
        super().__init__(message, **kwargs)


class RequestTimeout(ApiError):
    status, code = 408, "REQUEST_TIMEOUT"


class QuotaExceeded(ApiError):
    status, code = 403, "QUOTA_EXCEEDED"


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"

    def __init__(self, message: str = "not found", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class PayloadTooLarge(ApiError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class ServiceUnavailable(ApiError):
    status, code = 503, "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after: int = 5, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(message, **kwargs)


class StorageError(Exception):
    """Object storage failed (not the client's fault); becomes 503."""


class ObjectMissing(StorageError):
    """The object is not in storage."""


class Forbidden(ApiError):
    status, code = 403, "FORBIDDEN"


class RateLimited(ApiError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, math.ceil(retry_after)))})
        kwargs.setdefault("details", {"retryAfterSeconds": max(1, math.ceil(retry_after))})
        super().__init__(message, **kwargs)


class CsrfFailed(ApiError):
    """A cookie-authenticated unsafe request without its session's CSRF token, or from another origin."""

    status, code = 403, "CSRF_FAILED"


class Conflict(ApiError):
    status, code = 409, "CONFLICT"
