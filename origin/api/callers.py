"""Who is calling: the principal behind the request's credentials."""

from __future__ import annotations

from aiohttp import web

from auth.bearer import bearer_token
from auth.principal import Principal
from origin.app_keys import KEYS
from origin.errors import Unauthorized


async def optional_principal(request: web.Request) -> Principal | None:
    """The caller, None when anonymous; bad credentials are refused, never treated as anonymous."""
    token = bearer_token(request.headers)
    if token is None:
        if "Authorization" in request.headers:
            raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
        return None
    principal = await request.app[KEYS].resolve(token)
    if principal is None:
        raise Unauthorized(
            "invalid or revoked API key",
            headers={"WWW-Authenticate": 'Bearer realm="picora", error="invalid_token"'},
        )
    return principal


async def require_principal(request: web.Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("send 'Authorization: Bearer <api key>'")
    return principal
