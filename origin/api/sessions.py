"""``/v1/sessions``: sign in with an API key (a cookie session), read the session, sign out.

Sign-in is rate limited per client address before anything else is read, and a wrong key costs
the same work whether or not it ever existed. The cookie is ``HttpOnly`` (no script reads it),
``SameSite=Lax`` (not sent on cross-site subresource or form POSTs by current browsers) and
``Secure`` whenever the public URL is https; the CSRF token travels in the answer instead, for
the dashboard to send back in ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from auth.jwt_sessions import InvalidToken
from auth.principal import Principal
from origin.api.json_body import json_object
from origin.api.views import iso_utc
from origin.app_keys import KEYS, RATES, SESSIONS, SETTINGS
from origin.errors import RateLimited, Unauthorized, ValidationFailed
from origin.web.callers import Credential, check_origin, cookie_name, csrf_tokens, session_caller
from origin.web.client_address import client_address
from origin.web.envelope import ok

_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="picora", error="invalid_token"'}


def session_view(request: web.Request, credential: Credential) -> dict[str, Any]:
    plan = request.app[SETTINGS].plan(credential.principal.plan)
    return {
        "user": {"id": credential.principal.user_id, "plan": plan.name},
        "expiresAt": iso_utc(credential.expires_at * 1000) if credential.expires_at is not None else None,
        "csrfToken": csrf_tokens(request, credential)[0],
    }


async def _limit_sign_ins(request: web.Request) -> None:
    sessions = request.app[SETTINGS].access.sessions
    address = client_address(request, sessions.trusted_proxies)
    per_minute = sessions.sign_ins_per_minute
    wait = await request.app[RATES].take(f"addr:{address}", "sign-in", per_minute)
    if wait:
        raise RateLimited(f"too many sign-in attempts from your address: {per_minute} per minute", retry_after=wait)


async def sign_in(request: web.Request) -> web.Response:
    check_origin(request)
    await _limit_sign_ins(request)
    body = await json_object(request)
    unknown = set(body) - {"apiKey"}
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}; allowed: apiKey")
    api_key = body.get("apiKey")
    if not isinstance(api_key, str) or not api_key:
        raise ValidationFailed("apiKey must be the API key, a string")
    keys = request.app[KEYS]
    owner = await keys.owner(api_key)
    if owner is None:
        raise Unauthorized("invalid or revoked API key", code="INVALID_TOKEN", headers=_INVALID_TOKEN)
    user_id, digest = owner
    plan = await keys.user_plan(user_id)
    try:
        token, session = await request.app[SESSIONS].create(user_id, digest, plan)
    except InvalidToken as exc:  # revoked between the lookup and now
        raise Unauthorized("invalid or revoked API key", code="INVALID_TOKEN", headers=_INVALID_TOKEN) from exc
    await keys.touch(user_id, digest)
    credential = Credential(
        principal=Principal(user_id, plan or request.app[SETTINGS].default_plan, digest),
        kind="session",
        from_cookie=True,
        token=token,
        session=session,
        expires_at=session.expires_at,
    )
    response = ok(session_view(request, credential), status=201)
    settings = request.app[SETTINGS]
    response.set_cookie(
        cookie_name(request),
        token,
        max_age=settings.access.sessions.ttl_seconds,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def current(request: web.Request) -> web.Response:
    response = ok(session_view(request, await session_caller(request)))
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out(request: web.Request) -> web.Response:
    found = await session_caller(request)
    if found.session is not None:
        await request.app[SESSIONS].end(found.session)
    response = ok({"signedOut": True})
    settings = request.app[SETTINGS]
    response.del_cookie(cookie_name(request), path="/", httponly=True, samesite="Lax", secure=settings.secure_cookies)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/sessions", sign_in)
    app.router.add_get("/v1/sessions/current", current)
    app.router.add_delete("/v1/sessions/current", sign_out)
