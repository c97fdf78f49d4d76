"""The dashboard's static files as served: read once, hashed, with their references rewritten.

Assets get content-hashed names (``library.3f2a9c1b7e0d.js``), so browsers keep them for a year and
never revalidate; imports between modules and the shells' links are rewritten to those names. The
whole set is a few tens of kilobytes, so it lives in memory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/dashboard/static/"

#: Shell file of each page.
PAGES = {"library": "library.html", "detail": "detail.html", "settings": "settings.html", "sign-in": "sign-in.html"}

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}

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
