"""Who is calling: an API key or a dashboard session (JWT in the header or the session cookie).

Bad credentials are always refused (401), never treated as anonymous. ``caller`` also charges the
caller's rate-limit bucket: uploads apart from every other API call.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from auth.api_keys import KEY_PREFIX
from auth.bearer import bearer_token
from auth.jwt_sessions import InvalidToken
from auth.principal import Principal
from origin.app_keys import JWT, KEYS, RATES, SETTINGS
from origin.errors import RateLimited, Unauthorized

_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="picora", error="invalid_token"'}


def has_credentials(request: web.Request) -> bool:
    return "Authorization" in request.headers or request.app[SETTINGS].access.jwt.cookie_name in request.cookies


async def _session(request: web.Request, token: str) -> Principal:
    try:
        user_id = request.app[JWT].verify(token)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid session token: {exc}", code="INVALID_TOKEN", headers=_INVALID_TOKEN) from exc
    plan = await request.app[KEYS].user_plan(user_id)
    return Principal(user_id=user_id, plan=plan or request.app[SETTINGS].default_plan)


async def optional_principal(request: web.Request) -> Principal | None:
    """The caller, or None when the request carries no credentials at all."""
    token = bearer_token(request.headers)
    if token is None and "Authorization" in request.headers:
        raise Unauthorized("the Authorization header must be 'Bearer <api key or session token>'")
    if token is not None and token.startswith(KEY_PREFIX):
        principal = await request.app[KEYS].resolve(token)
        if principal is None:
            raise Unauthorized("invalid or revoked API key", code="INVALID_TOKEN", headers=_INVALID_TOKEN)
        return principal
    if token is not None:
        return await _session(request, token)
    cookie = request.cookies.get(request.app[SETTINGS].access.jwt.cookie_name)
    return None if cookie is None else await _session(request, cookie)


async def require_principal(request: web.Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    return principal


async def caller(request: web.Request, bucket: Literal["api", "upload"] = "api") -> Principal:
    """The authenticated caller, charged one token from its plan's bucket (429 when empty)."""
    principal = await require_principal(request)
    plan = request.app[SETTINGS].plan(principal.plan)
    per_minute = plan.uploads_per_minute if bucket == "upload" else plan.requests_per_minute
    wait = await request.app[RATES].take(principal.user_id, bucket, per_minute)
    if wait:
        kind = "uploads" if bucket == "upload" else "API requests"
        raise RateLimited(f"too many {kind}: your plan allows {per_minute} per minute", retry_after=wait)
    return principal
