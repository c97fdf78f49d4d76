"""Who may see an image, and how caches may keep the answer (the media path's access decision).

Public image, no hotlink rules: anyone; the entry's long-lived public headers.
Public image, hotlink rules on: an allowed Referer, a valid signed URL or the owner's credentials;
  cached responses must be revalidated (``no-cache``) so a CDN asks again for every Referer and
  never hands a protected image to another site from its cache (the 304s are cheap). Else 403.
Private image: a valid signed URL (cacheable for what remains of its validity), or the owner's
  credentials (never storable by a shared cache). Anonymous: 401. Another user: 404.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import hdrs, web

from auth.hotlink import referer_allowed
from auth.signed_urls import Signature, check
from origin.app_keys import HOTLINK, SETTINGS, SIGNING_KEYS
from origin.errors import Forbidden, NotFound, Unauthorized
from origin.images.metadata import ImageRecord
from origin.media.headers import PRIVATE_CACHE_CONTROL
from origin.media.hotlink_memo import HotlinkRulesCache
from origin.web.callers import has_credentials, optional_principal

#: ``public`` is needed here, unlike beside ``s-maxage``: with no freshness directive it is the one
#: explicit statement that a shared cache may store the answer (RFC 9111 section 3).
PROTECTED_CACHE_CONTROL = "public, no-cache"
#: ``public`` lets a shared cache keep the 404 of a request that carried credentials (RFC 9111
#: section 3.5); it is stored per credential (``Vary``).
NOT_FOUND_CACHE_CONTROL = "public, max-age=60"


@dataclass(frozen=True, slots=True)
class Grant:
    """Access granted; ``cache_control`` replaces the entry's default when set."""

    cache_control: str | None = None
    vary: str | None = None


PUBLIC = Grant()
PROTECTED = Grant(PROTECTED_CACHE_CONTROL)
OWNER = Grant(PRIVATE_CACHE_CONTROL, vary="Authorization, Cookie")


def not_found() -> NotFound:
    """Ids are never reused, so a CDN may remember a 404 briefly, but per credential: another
    user's 404 for a private image must never be replayed to its owner. Every media 404 varies
    the same way, so a hidden image's 404 is indistinguishable from a missing one."""
    return NotFound(
        "no such image", headers={"Cache-Control": NOT_FOUND_CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    )


def _signed(request: web.Request, expires_at: float) -> Grant:
    remaining = max(0, int(expires_at - time.time()))
    browser = min(remaining, request.app[SETTINGS].browser_max_age)
    return Grant(f"max-age={browser}, s-maxage={remaining}")  # s-maxage makes it storable: no ``public``


def _signature(request: web.Request) -> tuple[Signature, float]:
    if "sig" not in request.query and "exp" not in request.query:
        return Signature.ABSENT, 0.0
    keys: tuple[str, ...] = request.app[SIGNING_KEYS]
    verdict = check(request.path, request.query, keys, time.time())
    return verdict, float(request.query.get("exp", "0")) if verdict is not Signature.INVALID else 0.0


async def _owner_asks(request: web.Request, record: ImageRecord) -> bool | None:
    """True: the owner; False: someone else; None: no credentials."""
    if not has_credentials(request):
        return None
    principal = await optional_principal(request)
    return principal is not None and principal.user_id == record.owner


def grant_at_once(hotlink: HotlinkRulesCache, request: web.Request, record: ImageRecord) -> Grant | None:
    """What ``grant_access`` would answer, when memoised rules decide it without awaiting: a public
    image whose owner has no hotlink rules (PUBLIC), or whose rules allow the Referer (PROTECTED,
    the CDN's revalidation of a protected image). None: ask ``grant_access``."""
    if not record.is_public:
        return None
    _, rules = hotlink.peek(record.owner)
    if rules is None:
        return None
    if not rules.enabled:
        return PUBLIC
    return PROTECTED if referer_allowed(rules, request.headers.get(hdrs.REFERER)) else None


async def grant_access(request: web.Request, record: ImageRecord) -> Grant:
    if record.is_public:
        rules = await request.app[HOTLINK].get(record.owner)
        if not rules.enabled:
            return PUBLIC
        if referer_allowed(rules, request.headers.get(hdrs.REFERER)):
            return PROTECTED
        verdict, expires = _signature(request)
        if verdict is Signature.VALID:
            return _signed(request, expires)
        if await _owner_asks(request, record):
            return OWNER
        raise Forbidden("this image may not be embedded on that site", code="HOTLINK_BLOCKED")
    verdict, expires = _signature(request)
    if verdict is Signature.VALID:
        return _signed(request, expires)
    owner = await _owner_asks(request, record)
    if owner:
        return OWNER
    if owner is False:
        raise not_found()
    if verdict is Signature.EXPIRED:
        raise Unauthorized("this signed URL has expired", code="SIGNATURE_EXPIRED")
    if verdict is Signature.INVALID:
        raise Unauthorized("this signed URL is not valid", code="INVALID_SIGNATURE")
    raise Unauthorized("this image is private")
