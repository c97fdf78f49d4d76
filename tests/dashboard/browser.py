"""Helpers for the dashboard's browser tests: accounts made with the CLI, page checks, pictures."""

from __future__ import annotations

import io
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from axe_playwright_python.sync_playwright import Axe
from PIL import Image, ImageDraw
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, expect

from tests.processes import CLI, Server

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}


@dataclass
class Account:
    """A user of the origin and one of its API keys, made with the CLI as an operator would."""

    name: str
    key: str
    server: Server

    def set_plan(self, plan: str) -> None:
        create_key(self.server, self.name, plan)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.server.base + path, headers=headers, timeout=30, **kwargs)

    def upload(self, data: bytes, filename: str, **fields: str) -> dict[str, Any]:
        response = self.api("POST", "/v1/images", files={"file": (filename, data)}, data=fields)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    def images(self, **query: str) -> list[dict[str, Any]]:
        response = self.api("GET", "/v1/images", params={"limit": "100", **query})
        assert response.status_code == 200, response.text
        return list(response.json()["data"]["items"])


def create_key(server: Server, user: str, plan: str) -> str:
    done = subprocess.run(
        [*CLI, "keys", "create", "--user", user, "--plan", plan],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


def wait_until(page: Page, function: str, arg: Any = None, timeout: float = 10.0) -> None:
    """Poll a JavaScript function until it returns a truthy value. (Playwright's wait_for_function
    evaluates strings inside the page, which the dashboard's CSP rightly refuses.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(function, arg):
        assert time.monotonic() < deadline, f"never true: {function}"
        page.wait_for_timeout(100)


def new_account(server: Server, plan: str = "free") -> Account:
    name = f"u{uuid.uuid4().hex[:10]}"
    return Account(name, create_key(server, name, plan), server)


@dataclass
class Watch:
    """What went wrong in the browser: console errors, uncaught exceptions, CSP violations."""

    problems: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        # The API answering 4xx is how it refuses (a wrong key, a file too large, bad tags): the
        # page shows those answers, and Chromium logs each as a failed resource. Only /v1 calls.
        if message.text.startswith("Failed to load resource: the server responded with a status of 4") and urlsplit(
            url
        ).path.startswith("/v1/"):
            return
        self.problems.append(f"console error: {message.text} ({url})")


CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__picoraCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${where}`);
});
"""


def watch_context(context: BrowserContext) -> Watch:
    watch = Watch()
    context.expose_binding("__picoraCspViolation", lambda source, text: watch.problems.append(f"CSP: {text}"))
    context.add_init_script(CSP_LISTENER)
    context.on("console", watch.console)
    context.on("weberror", lambda error: watch.problems.append(f"uncaught: {error.error}"))
    return watch


@dataclass
class Dashboard:
    """A signed-in (or signing-in) browser page and the checks every page gets."""

    page: Page
    watch: Watch
    base: str
    axe: Axe = field(default_factory=Axe)

    def check(self) -> None:
        """No serious or critical axe-core violation on the page as it is now; nothing went wrong."""
        results = self.axe.run(self.page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        details = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:5]}" for v in blocking
        ]
        assert not details, f"axe on {self.page.url}:\n" + "\n".join(details)
        self.assert_clean()

    def assert_clean(self) -> None:
        assert not self.watch.problems, "\n".join(self.watch.problems)

    def sign_in(self, account: Account, start: str = "/dashboard/") -> None:
        self.page.goto(start)
        expect(self.page).to_have_url(f"{self.base}/dashboard/sign-in?next={start}")
        self.page.get_by_label("API key", exact=True).fill(account.key)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page).to_have_url(self.base + start)
        expect(self.page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()

    def images(self) -> Locator:
        return self.page.get_by_role("list", name="Images", exact=True)

    def cards(self) -> Locator:
        """The grid's items (not the tag lists inside them)."""
        return self.images().locator(":scope > li")

    def card(self, filename: str) -> Locator:
        return self.cards().filter(has=self.page.get_by_role("link", name=filename, exact=True))

    def screenshot(self, name: str, *, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # Toasts are transient and a focused field's selection is noise: the picture shows the page.
        self.page.evaluate(
            "() => { document.getElementById('toast')?.classList.remove('shown');"
            " document.activeElement?.blur(); window.getSelection()?.removeAllRanges(); window.scrollTo(0, 0); }"
        )
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")


def picture(width: int = 640, height: int = 420, seed: int = 0, fmt: str = "PNG", noise: bool = False) -> bytes:
    """A small, pleasant test picture (or incompressible noise, to make an upload take a while)."""
    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        hues = [(79, 70, 229), (14, 165, 233), (16, 185, 129), (245, 158, 11), (236, 72, 153), (99, 102, 241)]
        top, bottom = hues[seed % len(hues)], hues[(seed + 2) % len(hues)]
        image = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(image)
        for y in range(height):
            t = y / max(1, height - 1)
            draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
        r = min(width, height) // 5
        cx, cy = width * (0.3 + 0.1 * (seed % 4)), height * 0.4
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 244, 214))
        draw.polygon([(0, height), (width * 0.45, height * 0.55), (width * 0.8, height)], fill=(30, 41, 59))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def write_picture(directory: Path, name: str, **kwargs: Any) -> str:
    path = directory / name
    path.write_bytes(picture(**kwargs))
    return str(path)
