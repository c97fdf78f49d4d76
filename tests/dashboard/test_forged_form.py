"""A page on another origin that posts a form to ``/v1/images`` with the signed-in person's cookie.

The attacker's page is served from another port of the same host: the same *site* to a browser
(ports do not count), so the ``SameSite=Lax`` cookie does go with its top-level POST. What must
stop it is the CSRF check: no ``X-CSRF-Token``, and an ``Origin`` that is not the origin's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.dashboard.browser import Dashboard, new_account
from tests.processes import Server

_FORGED = """<!doctype html>
<title>Win a prize</title>
<form id="forged" method="post" enctype="multipart/form-data" action="{action}">
  <input name="file" value="not really an image">
  <input name="isPublic" value="true">
</form>
<script>document.getElementById("forged").submit();</script>
"""


@pytest.fixture
def attacker_site(dashboard_origin: Server) -> Iterator[str]:
    """A page on another origin (another port) whose form posts to the origin as soon as it opens."""
    page = _FORGED.format(action=f"{dashboard_origin.base}/v1/images").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prize.html"
    finally:
        server.shutdown()
        server.server_close()


def test_a_form_on_another_origin_cannot_upload_with_the_session_cookie(
    dashboard: Dashboard, dashboard_origin: Server, attacker_site: str
) -> None:
    account = new_account(dashboard_origin)
    dashboard.sign_in(account)
    before = account.api("GET", "/v1/usage").json()["data"]["img_storage"]["usedBytes"]

    page = dashboard.page
    page.goto(attacker_site)
    # The browser followed the form to the origin's answer: the cookie arrived and was refused.
    expect(page).to_have_url(f"{dashboard_origin.base}/v1/images")
    answer = page.locator("body").inner_text()
    assert "CSRF_FAILED" in answer, answer

    assert account.images() == []
    assert account.api("GET", "/v1/usage").json()["data"]["img_storage"]["usedBytes"] == before
    # The session itself is untouched: the dashboard still works for its owner.
    page.goto("/dashboard/")
    expect(dashboard.page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
