"""Who is calling: an API key, a session the origin issued, or an externally issued JWT session,
in the ``Authorization`` header or the session cookie.

Bad credentials are always refused (401), never treated as anonymous. A browser attaches the
cookie to requests any site makes, so a cookie-authenticated unsafe request must pass the CSRF
check (403 ``CSRF_FAILED``) before its handler does anything; ``Authorization`` is never sent by
a browser on its own, so Bearer calls need no such check. ``caller`` also charges the caller's
rate-limit bucket: uploads apart from every other API call. Sessions cost nothing to requests
that do not carry one: no credentials means no Redis at all, and an API key costs its own lookup
(plus, once a minute per key and process, noting its last use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import jwt
from aiohttp import web

from auth.api_keys import KEY_PREFIX
from auth.bearer import bearer_token
from auth.csrf import HEADER as CSRF_HEADER
from auth.csrf import derived_token, origin_of, same_origin, tokens_match, unsafe
from auth.jwt_sessions import InvalidToken
from auth.principal import Principal
from auth.sessions import Session, is_session_token
from origin.app_keys import JWT, KEYS, RATES, SESSIONS, SETTINGS
from origin.errors import CsrfFailed, RateLimited, Unauthorized

_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="picora", error="invalid_token"'}


@dataclass(frozen=True, slots=True)
class Credential:
    """How the caller proved who it is. ``token`` is the session token (empty for API keys);
    ``session`` is set for sessions the origin issued; ``expires_at`` for both kinds of session."""

    principal: Principal
    kind: Literal["key", "session", "jwt"]
    from_cookie: bool
    token: str = ""
    session: Session | None = None
    expires_at: int | None = None


def cookie_name(request: web.Request) -> str:
    return request.app[SETTINGS].access.jwt.cookie_name


def has_credentials(request: web.Request) -> bool:
    return "Authorization" in request.headers or cookie_name(request) in request.cookies


def own_origins(request: web.Request) -> set[str]:
    """The origins a page of ours may have: the public URL's, and the one this request was sent to."""
    origins = {origin_of(request.app[SETTINGS].public_url), origin_of(f"{request.scheme}://{request.host}")}
    return {origin for origin in origins if origin is not None}


def check_origin(request: web.Request) -> None:
    if not same_origin(request.headers.get("Origin"), own_origins(request)):
        raise CsrfFailed("cross-origin request refused: the Origin header names another site")


def csrf_tokens(request: web.Request, credential: Credential) -> list[str]:
    """The session's CSRF token (the first is the one to hand out). External JWT sessions have no
    record, so theirs is derived from the token under each session key (rotation)."""
    if credential.session is not None:
        return [credential.session.csrf_token]
    return [derived_token(key, credential.token) for key in request.app[SESSIONS].keys]


def _check_csrf(request: web.Request, credential: Credential) -> None:
    check_origin(request)
    if not tokens_match(request.headers.get(CSRF_HEADER), csrf_tokens(request, credential)):
        raise CsrfFailed(f"a request authenticated by the session cookie must send {CSRF_HEADER}")


async def _session(request: web.Request, token: str, *, from_cookie: bool) -> Credential:
    settings = request.app[SETTINGS]
    try:
        if is_session_token(token):
            session = await request.app[SESSIONS].verify(token)
            await request.app[KEYS].touch(session.user_id, session.key_digest)
            principal = Principal(session.user_id, session.plan or settings.default_plan, session.key_digest)
            return Credential(principal, "session", from_cookie, token, session, session.expires_at)
        user_id = request.app[JWT].verify(token)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid session token: {exc}", code="INVALID_TOKEN", headers=_INVALID_TOKEN) from exc
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")  # verified just above
    plan = await request.app[KEYS].user_plan(user_id)
    principal = Principal(user_id=user_id, plan=plan or settings.default_plan)
    return Credential(principal, "jwt", from_cookie, token, None, int(expires) if expires is not None else None)


async def credential(request: web.Request) -> Credential | None:
    """The caller's credential, or None when the request carries none at all."""
    token = bearer_token(request.headers)
    if token is None and "Authorization" in request.headers:
        raise Unauthorized("the Authorization header must be 'Bearer <api key or session token>'")
    if token is not None and token.startswith(KEY_PREFIX):
        principal = await request.app[KEYS].resolve(token)
        if principal is None:
            raise Unauthorized("invalid or revoked API key", code="INVALID_TOKEN", headers=_INVALID_TOKEN)
        return Credential(principal, "key", from_cookie=False)
    if token is not None:
        return await _session(request, token, from_cookie=False)
    cookie = request.cookies.get(cookie_name(request))
    if cookie is None:
        return None
    found = await _session(request, cookie, from_cookie=True)
    if unsafe(request.method):
        _check_csrf(request, found)
    return found


async def optional_principal(request: web.Request) -> Principal | None:
    """The caller, or None when the request carries no credentials at all."""
    found = await credential(request)
    return None if found is None else found.principal


async def require_principal(request: web.Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthorized("send 'Authorization: Bearer <api key>' or sign in")
    return principal


async def charge(request: web.Request, principal: Principal, bucket: Literal["api", "upload"] = "api") -> None:
    """One token from the principal's plan bucket (429 when empty)."""
    plan = request.app[SETTINGS].plan(principal.plan)
    per_minute = plan.uploads_per_minute if bucket == "upload" else plan.requests_per_minute
    wait = await request.app[RATES].take(principal.user_id, bucket, per_minute)
    if wait:
        kind = "uploads" if bucket == "upload" else "API requests"
        raise RateLimited(f"too many {kind}: your plan allows {per_minute} per minute", retry_after=wait)


async def caller(request: web.Request, bucket: Literal["api", "upload"] = "api") -> Principal:
    """The authenticated caller, charged one token from its plan's bucket (429 when empty)."""
    principal = await require_principal(request)
    await charge(request, principal, bucket)
    return principal


async def session_caller(request: web.Request) -> Credential:
    """The caller's session (cookie or Bearer session token; an API key is not one), charged like any call."""
    found = await credential(request)
    if found is None or found.kind == "key":
        raise Unauthorized("no session: sign in with POST /v1/sessions")
    await charge(request, found.principal)
    return found
