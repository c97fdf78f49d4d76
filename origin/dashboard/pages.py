"""The dashboard's page routes and static assets, served by the origin with a strict CSP.

The pages are static HTML shells; everything they show comes from the ``/v1`` API, fetched by
plain ES modules. Assets get content-hashed names (``library.3f2a9c1b7e0d.js``), so they are
cached for a year and never revalidated; imports between modules and the shells' references are
rewritten to those names when the app starts. The shells themselves revalidate (``no-cache`` and a
strong ETag), so a deploy is seen on the next page load.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import web

from origin.app_keys import SETTINGS
from origin.errors import NotFound
from origin.http_semantics.etags import parse_etag_list, weak_match

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/dashboard/static/"
SIGN_IN_PATH = "/dashboard/sign-in"

#: Shell file of each page; pages other than sign-in need a session.
PAGES = {"library": "library.html", "detail": "detail.html", "settings": "settings.html", "sign-in": "sign-in.html"}

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(["'])\./([A-Za-z0-9_-]+\.js)\2""")
_STATIC_REF = re.compile(re.escape(STATIC_PREFIX) + r"([A-Za-z0-9_.-]+)")


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes, type, strong ETag and the name it is served under."""

    body: bytes
    content_type: str
    etag: str
    name: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """Every asset by its plain and hashed names, and the page shells with their links rewritten."""

    assets: Mapping[str, Asset]
    pages: Mapping[str, Asset]

    def url(self, plain_name: str) -> str:
        return STATIC_PREFIX + self.assets[plain_name].name


DASHBOARD = web.AppKey("dashboard", Bundle)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _asset(body: bytes, plain_name: str, *, hashed: bool) -> Asset:
    digest = _digest(body)
    path = Path(plain_name)
    name = f"{path.stem}.{digest[:12]}{path.suffix}" if hashed else plain_name
    return Asset(body, CONTENT_TYPES[path.suffix], f'"{digest[:32]}"', name)


def build_bundle(static_dir: Path = STATIC_DIR) -> Bundle:
    """Read and hash every asset; a module's hash covers the hashed names of what it imports.

    Blocking file I/O: called in a worker thread. Import cycles are refused (a module's name
    would depend on itself), so the modules form a tree of plain relative imports.
    """
    sources = {
        path.name: path.read_bytes()
        for path in sorted(static_dir.iterdir())
        if path.suffix in CONTENT_TYPES and path.suffix != ".html"
    }
    assets: dict[str, Asset] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> Asset:
        if name in assets:
            return assets[name]
        if name in chain:
            raise ValueError(f"dashboard modules import each other in a cycle: {' -> '.join((*chain, name))}")
        if name not in sources:
            raise ValueError(f"dashboard module {chain[-1] if chain else '?'} imports a missing {name}")
        body = sources[name]
        if name.endswith(".js"):
            text = body.decode()

            def hashed_import(match: re.Match[str]) -> str:
                target = resolve(match.group(3), (*chain, name))
                return f"{match.group(1)}{match.group(2)}./{target.name}{match.group(2)}"

            body = _IMPORT.sub(hashed_import, text).encode()
        assets[name] = _asset(body, name, hashed=True)
        return assets[name]

    for name in sources:
        resolve(name, ())

    def link(match: re.Match[str]) -> str:
        asset = assets.get(match.group(1))
        if asset is None:
            raise ValueError(f"a dashboard page links a missing asset: {match.group(1)}")
        return STATIC_PREFIX + asset.name

    pages = {
        page: _asset(_STATIC_REF.sub(link, (static_dir / shell).read_text()).encode(), shell, hashed=False)
        for page, shell in PAGES.items()
    }
    return Bundle(assets=assets, pages=pages)


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


def _redirect(location: str, status: type[web.HTTPRedirection]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raise status(location)

    return handler


def add_dashboard_routes(app: web.Application) -> None:
    """Pages under ``/dashboard/``, their assets, and ``/`` sending people there."""
    app.cleanup_ctx.append(dashboard_context)
    router = app.router
    router.add_get("/", _redirect("/dashboard/", web.HTTPFound))
    router.add_get("/dashboard", _redirect("/dashboard/", web.HTTPMovedPermanently))
    router.add_get("/dashboard/", _page("library", needs_session=True))
    router.add_get(r"/dashboard/images/{image_id:[A-Za-z0-9_-]{11}}", _page("detail", needs_session=True))
    router.add_get("/dashboard/settings", _page("settings", needs_session=True))
    router.add_get(SIGN_IN_PATH, _page("sign-in", needs_session=False))
    router.add_get(STATIC_PREFIX + "{name}", static_asset)
