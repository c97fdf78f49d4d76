"""The dashboard's pages and assets over plain HTTP: redirects, the CSP and other headers, caching,
and the budget (no build step, no inline code, under 60 KB = 60,000 bytes of JavaScript and CSS)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.processes import Server

STATIC = Path(__file__).resolve().parents[2] / "origin" / "dashboard" / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' {media} blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGES = ["/dashboard/", "/dashboard/images/xK9mR2pQ7vB", "/dashboard/settings", "/dashboard/sign-in"]


def get(server: Server, path: str, **kwargs: object) -> requests.Response:
    return requests.get(server.base + path, allow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_root_redirects_to_the_library(dashboard_origin: Server) -> None:
    response = get(dashboard_origin, "/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/"


def test_the_favicon_browsers_ask_for_is_the_dashboards_icon(dashboard_origin: Server) -> None:
    response = get(dashboard_origin, "/favicon.ico")
    assert response.status_code == 301
    icon = get(dashboard_origin, response.headers["Location"])
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/svg+xml")


def test_pages_without_a_session_send_people_to_sign_in_and_back(dashboard_origin: Server) -> None:
    response = get(dashboard_origin, "/dashboard/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/sign-in?next=/dashboard/settings"
    assert response.headers["Cache-Control"] == "no-store"
    tagged = urlsplit(get(dashboard_origin, "/dashboard/?tag=road%20trip").headers["Location"])
    assert (tagged.path, parse_qs(tagged.query)) == ("/dashboard/sign-in", {"next": ["/dashboard/?tag=road%20trip"]})


def test_every_page_has_the_strict_csp_and_no_inline_code(dashboard_origin: Server) -> None:
    for path in PAGES:
        response = get(dashboard_origin, path, cookies={"picora_session": "any"})
        assert response.status_code == 200, path
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Content-Security-Policy"] == CSP.format(media=dashboard_origin.base)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-cache"
        inline = InlineFinder()
        inline.feed(response.text)
        assert inline.found == [], (path, inline.found)
        assert re.search(r'<script type="module" src="/dashboard/static/[a-z-]+\.[0-9a-f]{12}\.js">', response.text)


def test_pages_revalidate_with_a_strong_etag(dashboard_origin: Server) -> None:
    first = get(dashboard_origin, "/dashboard/sign-in")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    again = get(dashboard_origin, "/dashboard/sign-in", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_assets_have_hashed_immutable_names_and_modules_import_hashed_names(dashboard_origin: Server) -> None:
    page = get(dashboard_origin, "/dashboard/sign-in").text
    css = re.search(r'href="(/dashboard/static/app\.[0-9a-f]{12}\.css)"', page)
    script = re.search(r'src="(/dashboard/static/sign-in\.[0-9a-f]{12}\.js)"', page)
    assert css
    assert script
    for path, content_type in [
        (css.group(1), "text/css; charset=utf-8"),
        (script.group(1), "text/javascript; charset=utf-8"),
    ]:
        response = get(dashboard_origin, path)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == content_type
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    module = get(dashboard_origin, script.group(1)).text
    imports = re.findall(r"from '(\./[^']+)'", module)
    assert imports
    assert all(re.fullmatch(r"\./[a-z-]+\.[0-9a-f]{12}\.js", name) for name in imports), imports
    plain = get(dashboard_origin, "/dashboard/static/app.css")
    assert plain.headers["Cache-Control"] == "no-cache"
    assert (
        get(dashboard_origin, "/dashboard/static/app.css", headers={"If-None-Match": plain.headers["ETag"]}).status_code
        == 304
    )
    assert get(dashboard_origin, "/dashboard/static/nope.js").status_code == 404


def test_javascript_and_css_stay_under_60_000_bytes_with_no_third_party_code() -> None:
    files = [*STATIC.glob("*.js"), *STATIC.glob("*.css")]
    total = sum(path.stat().st_size for path in files)
    assert total < 60_000, f"{total} bytes of JavaScript and CSS (the budget is under 60 KB, decimal)"
    for path in files:
        text = path.read_text()
        assert not re.search(r"https?://(?!www\.w3\.org)", text), f"{path.name} refers to another site"
        assert not re.search(r"\beval\(|\.innerHTML\s*=|new Function\(", text), path.name


class InlineFinder(HTMLParser):
    """Inline scripts, style elements, style attributes and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found.extend(f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on"))
