"""Private thumbnails when ``PICORA_MEDIA_BASE_URL`` is another host than the dashboard's."""

from __future__ import annotations

from typing import Any

import requests
from playwright.sync_api import Browser, expect

from tests.dashboard.browser import Dashboard, new_account, picture, wait_until, watch_context
from tests.processes import Server


def test_private_thumbnails_load_through_signed_urls_from_another_media_host(
    cross_host_origin: Server, browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    account = new_account(cross_host_origin)
    private = account.upload(picture(800, 600, seed=2), "secret.png", isPublic="false")
    public = account.upload(picture(800, 600, seed=3), "open.png")
    media = cross_host_origin.base.replace("127.0.0.1", "localhost")
    assert private["url"].startswith(media + "/")
    assert requests.get(private["url"], timeout=10).status_code == 401
    context = browser.new_context(**{**browser_context_args, "base_url": cross_host_origin.base})
    try:
        board = Dashboard(context.new_page(), watch_context(context), cross_host_origin.base)
        board.sign_in(account)
        expect(board.cards()).to_have_count(2)
        for name in ("secret.png", "open.png"):
            img = board.card(name).locator("img")
            wait_until(board.page, "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        secret_src = board.card("secret.png").locator("img").evaluate("(img) => img.currentSrc")
        open_src = board.card("open.png").locator("img").evaluate("(img) => img.currentSrc")
        assert secret_src.startswith(f"{media}/{private['id']}.png?")
        assert "sig=" in secret_src
        assert "w=" in secret_src
        assert open_src.startswith(f"{media}/{public['id']}.png?w=")
        assert "sig=" not in open_src
        board.check()
    finally:
        context.close()
