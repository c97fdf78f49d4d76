"""The dashboard's page routes and static assets, served by the origin with a strict CSP.

The pages are static HTML shells; everything they show comes from the ``/v1`` API, fetched by
plain ES modules, like any client. Hashed assets are immutable; the shells revalidate
(``no-cache`` and a strong ETag), so a deploy is seen on the next page load.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import quote, urlsplit

from aiohttp import web

from origin.app_keys import DASHBOARD, SETTINGS
from origin.dashboard.assets import STATIC_DIR, STATIC_PREFIX, Asset, build_bundle
from origin.errors import NotFound
from origin.http_semantics.etags import parse_etag_list, weak_match
from origin.images.ids import ID_CHARS

SIGN_IN_PATH = "/dashboard/sign-in"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def content_security_policy(media_base_url: str) -> str:
    """The pages' CSP: nothing inline, nothing from elsewhere but images from the media host."""
    parts = urlsplit(media_base_url)
    media_origin = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' {media_origin} blob: data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def _not_modified(request: web.Request, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 section 13.1.2)."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    tags = parse_etag_list(header)
    if tags == "*":
        return True
    current = parse_etag_list(etag)
    assert isinstance(current, list)
    return tags is not None and any(weak_match(tag, current[0]) for tag in tags)


def _send(request: web.Request, asset: Asset, headers: Mapping[str, str]) -> web.Response:
    all_headers = {"ETag": asset.etag, "X-Content-Type-Options": "nosniff", **headers}
    if _not_modified(request, asset.etag):
        return web.Response(status=304, headers=all_headers)
    return web.Response(body=asset.body, headers={"Content-Type": asset.content_type, **all_headers})


def page_headers(media_base_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(media_base_url),
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": REVALIDATE,
    }


def _page(page: str, *, needs_session: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A page handler. Without a session cookie at all, straight to sign-in and back afterwards;
    a cookie that turns out to be stale is sent there by the page itself when the API says 401."""

    async def handler(request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        if needs_session and settings.access.jwt.cookie_name not in request.cookies:
            raise web.HTTPFound(
                f"{SIGN_IN_PATH}?next={quote(request.path_qs, safe='/')}",
                headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"},
            )
        return _send(request, request.app[DASHBOARD].pages[page], page_headers(settings.media_base_url))

    return handler


async def static_asset(request: web.Request) -> web.Response:
    """A hashed name is immutable; the plain name (for hand-made links) revalidates."""
    bundle = request.app[DASHBOARD]
    name = request.match_info["name"]
    for plain, asset in bundle.assets.items():
        if name == asset.name:
            return _send(request, asset, {"Cache-Control": IMMUTABLE})
        if name == plain:
            return _send(request, asset, {"Cache-Control": REVALIDATE})
    raise NotFound("no such dashboard asset")


async def dashboard_context(app: web.Application) -> AsyncIterator[None]:
    app[DASHBOARD] = await asyncio.to_thread(build_bundle, STATIC_DIR)
    yield


def _redirect(location: str, status: type[web.HTTPMove]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raise status(location)

    return handler


def add_dashboard_routes(app: web.Application) -> None:
    """Pages under ``/dashboard/``, their assets, and ``/`` sending people there."""
    app.cleanup_ctx.append(dashboard_context)
    router = app.router
    router.add_get("/", _redirect("/dashboard/", web.HTTPFound))
    router.add_get("/dashboard", _redirect("/dashboard/", web.HTTPMovedPermanently))
    # Browsers ask every origin for /favicon.ico (an image opened in a tab, a raw API answer): the
    # dashboard's icon, rather than a 404 in every browser console and access log.
    router.add_get("/favicon.ico", _redirect(f"{STATIC_PREFIX}icon.svg", web.HTTPMovedPermanently))
    router.add_get("/dashboard/", _page("library", needs_session=True))
    router.add_get(f"/dashboard/images/{{image_id:{ID_CHARS}}}", _page("detail", needs_session=True))
    router.add_get("/dashboard/settings", _page("settings", needs_session=True))
    router.add_get(SIGN_IN_PATH, _page("sign-in", needs_session=False))
    router.add_get(STATIC_PREFIX + "{name}", static_asset)
