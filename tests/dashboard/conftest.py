"""The dashboard in a real Chromium (Debian's, never a downloaded one) against a real origin.

One ``picora-origin serve`` process per session, on its own real redis-server and the filesystem
storage, as an operator runs it; every test signs in as a fresh user through the sign-in page.
Every page a test visits is watched: a console error, an uncaught exception or a CSP violation
fails the test, and ``Dashboard.check`` runs axe-core on the page as it stands.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, Playwright, sync_playwright

from tests.dashboard.browser import Account, Dashboard, new_account, watch_context
from tests.processes import Server
from tests.servers import RedisServer, free_port

CHROMIUM = "/usr/bin/chromium"
#: A plan with a small per-file limit, for the refused-before-sending and Retry tests.
TINY_MAX_FILE_BYTES = 150_000
CONFIG = f"""
[plans.tiny]
max_file_bytes = {TINY_MAX_FILE_BYTES}
storage_bytes = 50000000
"""


# Playwright's sync API keeps an event loop running in the test thread for as long as it lives, and
# the suite's asyncio tests cannot start theirs meanwhile: so the browser lives as long as this
# package's tests (pytest-playwright's own fixtures are session-wide), not as long as the session.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright) -> BrowserType:
    return playwright.chromium


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: BrowserType) -> Callable[..., Browser]:
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--font-render-hinting=none",
        ],
    }


@contextlib.contextmanager
def serve_origin(workdir: Path, media_host: str = "127.0.0.1") -> Iterator[Server]:
    """``picora-origin serve`` on a free port with its own redis-server, serving its own media
    under ``media_host`` (``localhost`` makes the media host another origin than the pages')."""
    with RedisServer(workdir) as redis:
        redis_url = redis.url
        port = free_port()
        config = workdir / "picora.toml"
        config.write_text(CONFIG)
        env = {
            **os.environ,
            "PICORA_HOST": "127.0.0.1",
            "PICORA_PORT": str(port),
            "PICORA_DATA_DIR": str(workdir / "data"),
            "PICORA_REDIS_URL": redis_url,
            "PICORA_MEDIA_BASE_URL": f"http://{media_host}:{port}",
            "PICORA_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PICORA_CONFIG": str(config),
            "PICORA_ACCESS_LOG": "off",
            # Every test signs in from 127.0.0.1; the limit itself is tested with the sessions API.
            "PICORA_SIGN_IN_PER_MINUTE": "1000",
        }
        server = Server(env)
        try:
            server.wait_healthy()
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def dashboard_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_origin(tmp_path_factory.mktemp("dashboard")) as server:
        yield server


@pytest.fixture(scope="module")
def cross_host_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Pages on 127.0.0.1, media on localhost: the session cookie never reaches the media host."""
    with serve_origin(tmp_path_factory.mktemp("cross-host"), media_host="localhost") as server:
        yield server


@pytest.fixture(scope="session")
def base_url(dashboard_origin: Server) -> str:
    return dashboard_origin.base


@pytest.fixture(scope="package")
def browser_context_args(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "viewport": {"width": 1280, "height": 860},
        "locale": "en-US",
        "timezone_id": "UTC",
        "color_scheme": "light",
        "reduced_motion": "reduce",
    }


@pytest.fixture
def account(dashboard_origin: Server) -> Account:
    return new_account(dashboard_origin)


@pytest.fixture
def dashboard(page: Page, context: BrowserContext, base_url: str) -> Iterator[Dashboard]:
    board = Dashboard(page, watch_context(context), base_url)
    yield board
    board.assert_clean()
