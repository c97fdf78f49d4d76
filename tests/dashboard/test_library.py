"""Library → Images in a real browser: sign-in, uploads (input, drop, paste), progress, limits,
links and the clipboard, variants in the grid, infinite scroll, the tag filter, bulk actions."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import requests
from PIL import Image
from playwright.sync_api import expect

from tests.dashboard.browser import Account, Dashboard, new_account, picture, wait_until, write_picture
from tests.dashboard.conftest import TINY_MAX_FILE_BYTES
from tests.processes import Server

PROGRESS_RECORDER = """
() => {
  window.__uploads = { values: [], most: 0 };
  new MutationObserver(() => {
    for (const bar of document.querySelectorAll('#queue progress')) window.__uploads.values.push(bar.value);
    const running = document.querySelectorAll('#queue [data-state="uploading"]').length;
    window.__uploads.most = Math.max(window.__uploads.most, running);
  }).observe(document.getElementById('queue'), { subtree: true, childList: true, attributes: true });
}
"""

SYNTHETIC_FILES = """
async ({ files, event }) => {
  const transfer = new DataTransfer();
  for (const file of files) {
    const bytes = Uint8Array.from(atob(file.data), (ch) => ch.charCodeAt(0));
    transfer.items.add(new File([bytes], file.name, { type: 'image/png' }));
  }
  if (event === 'paste') {
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
    return;
  }
  const target = document.querySelector('main h1');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}
"""


def encoded(name: str, data: bytes) -> dict[str, str]:
    return {"name": name, "data": base64.b64encode(data).decode()}


def queue_item(board: Dashboard, filename: str):  # type: ignore[no-untyped-def]
    queue = board.page.get_by_role("list", name="Upload queue", exact=True)
    return queue.get_by_role("listitem").filter(has_text=filename)


def test_sign_in_refuses_a_wrong_key_then_returns_to_the_page_asked_for(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    page.goto("/dashboard/settings")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/sign-in?next=/dashboard/settings")
    dashboard.check()
    page.get_by_label("API key", exact=True).fill("sk_live_" + "x" * 32)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    dashboard.check()
    page.get_by_label("API key", exact=True).fill(account.key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/settings")
    expect(page.get_by_role("link", name="Library", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Settings", exact=True)).to_have_attribute("aria-current", "page")


def test_empty_library_says_how_to_upload(dashboard: Dashboard, account: Account) -> None:
    dashboard.sign_in(account)
    expect(dashboard.page.get_by_text("No images yet")).to_be_visible()
    expect(dashboard.page.get_by_role("meter", name="Storage used")).to_have_attribute(
        "aria-valuetext", "0 MB of 500 MB used"
    )
    dashboard.check()
    dashboard.screenshot("library-empty", full_page=False)


def test_upload_through_the_file_input_shows_real_progress_three_at_a_time(
    dashboard: Dashboard, account: Account, tmp_path: Path
) -> None:
    page = dashboard.page
    dashboard.sign_in(account)
    page.evaluate(PROGRESS_RECORDER)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400 * 1024},
    )
    files = [write_picture(tmp_path, f"noise-{n}.png", width=300, height=300, noise=True) for n in range(5)]
    page.get_by_label("Tags", exact=True).fill("batch, Noise")
    page.get_by_label("Public", exact=True).uncheck()
    page.get_by_label("Upload", exact=True).set_input_files(files)
    queue = page.get_by_role("list", name="Upload queue", exact=True)
    expect(queue.get_by_role("progressbar").first).to_be_visible()
    expect(queue.get_by_role("button", name="Cancel", exact=True).first).to_be_visible()
    expect(queue.get_by_role("button", name="Copy link", exact=True)).to_have_count(5, timeout=30_000)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    seen = page.evaluate("window.__uploads")
    assert any(0 < value < 100 for value in seen["values"]), seen["values"][:50]
    assert seen["most"] == 3
    stored = account.images()
    assert sorted(image["filename"] for image in stored) == [f"noise-{n}.png" for n in range(5)]
    assert all(image["tags"] == ["batch", "noise"] and image["isPublic"] is False for image in stored)
    expect(dashboard.cards()).to_have_count(5)
    expect(dashboard.card("noise-0.png").get_by_text("Private", exact=True)).to_be_visible()
    expect(page.get_by_role("meter", name="Storage used")).to_have_attribute(
        "aria-valuetext", re.compile(r"^[1-9]\.\d MB of 500 MB used$")
    )
    # Whichever file finishes last, the batch's summary is what the live region says in the end.
    expect(page.locator("#queue-live")).to_have_text("Uploads finished: 5 uploaded.")
    dashboard.check()


def test_a_dropped_file_and_a_pasted_file_are_uploaded(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    dashboard.sign_in(account)
    page.evaluate(SYNTHETIC_FILES, {"files": [encoded("dropped.png", picture(seed=1))], "event": "drop"})
    expect(queue_item(dashboard, "dropped.png").get_by_text("Uploaded", exact=True)).to_be_visible()
    page.evaluate(SYNTHETIC_FILES, {"files": [encoded("pasted.png", picture(seed=2))], "event": "paste"})
    expect(queue_item(dashboard, "pasted.png").get_by_text("Uploaded", exact=True)).to_be_visible()
    assert sorted(image["filename"] for image in account.images()) == ["dropped.png", "pasted.png"]
    expect(dashboard.card("pasted.png")).to_be_visible()
    expect(dashboard.card("dropped.png")).to_be_visible()


def test_refused_files_stay_with_the_reason_and_retry_works_once_the_limit_is_raised(
    dashboard: Dashboard, dashboard_origin: Server, tmp_path: Path
) -> None:
    account = new_account(dashboard_origin, plan="tiny")
    page = dashboard.page
    dashboard.sign_in(account)
    big = write_picture(tmp_path, "big.png", width=400, height=400, noise=True)
    assert Path(big).stat().st_size > TINY_MAX_FILE_BYTES
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are not pixels")
    page.get_by_label("Upload", exact=True).set_input_files([big, str(not_an_image)])
    big_item, text_item = queue_item(dashboard, "big.png"), queue_item(dashboard, "notes.png")
    expect(big_item).to_contain_text("over your plan's limit")
    expect(big_item).to_contain_text("Nothing was sent")
    expect(text_item.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    expect(text_item.locator(".upload-message")).not_to_be_empty()
    assert [url for url in sent if url.endswith("/v1/images")] == [dashboard.base + "/v1/images"]  # notes.png only
    dashboard.check()
    dashboard.screenshot("upload-refused", full_page=False)
    account.set_plan("free")
    big_item.get_by_role("button", name="Retry", exact=True).click()
    expect(big_item.get_by_text("Uploaded", exact=True)).to_be_visible()
    expect(big_item.get_by_role("button", name="Copy link", exact=True)).to_be_visible()
    assert [image["filename"] for image in account.images()] == ["big.png"]


def test_copy_link_puts_the_url_on_the_clipboard_in_the_chosen_format(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.base)
    dashboard.sign_in(account)
    page.evaluate(SYNTHETIC_FILES, {"files": [encoded("sunset.png", picture(seed=3))], "event": "drop"})
    item = queue_item(dashboard, "sunset.png")
    item.get_by_role("button", name="Copy link", exact=True).click()
    url = account.images()[0]["url"]
    expect(page.get_by_role("status").filter(has_text="copied")).to_contain_text("Link copied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.get_by_label("Link format", exact=True).select_option(label="Markdown")
    item.get_by_role("button", name="Copy link", exact=True).click()
    markdown = f"![sunset]({url})"
    wait_until(page, "async (want) => (await navigator.clipboard.readText()) === want", arg=markdown)
    page.evaluate("navigator.clipboard.writeText('')")
    page.get_by_role("button", name="Copy all links", exact=True).click()
    wait_until(page, "async (want) => (await navigator.clipboard.readText()) === want", arg=markdown)
    page.reload()
    expect(page.get_by_label("Link format", exact=True)).to_have_value("markdown")


def test_copying_over_plain_http_falls_back_and_says_so(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard.base)
    # As on http://192.168.1.20: no async Clipboard API outside a secure context.
    page.context.add_init_script(
        "window.__clipboard = navigator.clipboard;"
        "Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined });"
    )
    dashboard.sign_in(account)
    page.evaluate(SYNTHETIC_FILES, {"files": [encoded("lan.png", picture(seed=4))], "event": "drop"})
    queue_item(dashboard, "lan.png").get_by_role("button", name="Copy link", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="copied")).to_contain_text("not served over https")
    assert page.evaluate("window.__clipboard.readText()") == account.images()[0]["url"]


def test_the_grid_shows_variant_thumbnails_in_boxes_of_the_images_shape(dashboard: Dashboard, account: Account) -> None:
    account.upload(picture(1600, 900, seed=5), "wide.png")
    account.upload(picture(600, 900, seed=1, fmt="JPEG"), "tall.jpg", isPublic="false")
    dashboard.sign_in(account)
    for name, (width, height) in {"wide.png": (1600, 900), "tall.jpg": (600, 900)}.items():
        img = dashboard.card(name).locator("img")
        expect(img).to_have_attribute("loading", "lazy")
        expect(img).to_have_attribute("width", str(width))
        expect(img).to_have_attribute("height", str(height))
        expect(img).to_have_attribute("srcset", re.compile(r"\?w=320 320w, .*\?w=640 \d+w$"))
        img.scroll_into_view_if_needed()
        wait_until(dashboard.page, "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        current = img.evaluate("(img) => img.currentSrc")
        assert re.search(r"\?w=(320|640)$", current), current
        cookies = {c["name"]: c["value"] for c in dashboard.page.context.cookies()}
        fetched = requests.get(current, cookies=cookies, timeout=10)
        assert fetched.status_code == 200
        assert fetched.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(fetched.content)).width in (320, 640)
    expect(dashboard.card("tall.jpg").get_by_text("Private", exact=True)).to_be_visible()
    dashboard.check()


def test_infinite_scroll_reaches_the_45th_of_45_images(dashboard: Dashboard, account: Account) -> None:
    tiny = picture(48, 32, seed=2)
    for n in range(1, 46):
        account.upload(tiny, f"photo-{n:02}.png")
    page = dashboard.page
    dashboard.sign_in(account)
    cards = dashboard.cards()
    expect(cards.first).to_contain_text("photo-45.png")
    for _ in range(30):
        if cards.count() == 45:
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(250)
    expect(cards).to_have_count(45)
    expect(dashboard.card("photo-01.png")).to_be_visible()
    expect(page.get_by_role("button", name="Load more", exact=True)).to_be_hidden()
    names = [name.strip() for name in dashboard.images().locator(".card-name").all_inner_texts()]
    assert names == [f"photo-{n:02}.png" for n in range(45, 0, -1)]


def test_load_more_is_the_fallback_without_intersection_observer(dashboard: Dashboard, account: Account) -> None:
    tiny = picture(48, 32, seed=3)
    for n in range(1, 23):
        account.upload(tiny, f"pic-{n:02}.png")
    page = dashboard.page
    page.context.add_init_script("delete window.IntersectionObserver;")
    dashboard.sign_in(account)
    more = page.get_by_role("button", name="Load more", exact=True)
    expect(dashboard.cards()).to_have_count(20)
    more.focus()
    page.keyboard.press("Enter")
    expect(dashboard.cards()).to_have_count(22)
    expect(more).to_be_hidden()


def test_tag_filter_lives_in_the_url_and_the_back_button_restores_it(dashboard: Dashboard, account: Account) -> None:
    account.upload(picture(seed=1), "cat.png", tags='["cats"]')
    account.upload(picture(seed=2), "dog.png", tags='["dogs"]')
    account.upload(picture(seed=3), "both.png", tags='["cats","dogs"]')
    page = dashboard.page
    dashboard.sign_in(account)
    cards = dashboard.cards()
    expect(cards).to_have_count(3)
    page.get_by_label("Filter by tag", exact=True).fill("cats")
    page.get_by_label("Filter by tag", exact=True).press("Enter")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/?tag=cats")
    expect(cards).to_have_count(2)
    expect(dashboard.card("dog.png")).to_have_count(0)
    dashboard.card("both.png").get_by_role("link", name="dogs", exact=True).click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/?tag=dogs")
    expect(dashboard.card("cat.png")).to_have_count(0)
    expect(cards).to_have_count(2)
    page.go_back()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/?tag=cats")
    expect(page.get_by_label("Filter by tag", exact=True)).to_have_value("cats")
    expect(dashboard.card("dog.png")).to_have_count(0)
    expect(cards).to_have_count(2)
    page.go_back()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/")
    expect(cards).to_have_count(3)
    page.goto("/dashboard/?tag=dogs")
    expect(cards).to_have_count(2)
    expect(dashboard.card("cat.png")).to_have_count(0)
    dashboard.check()


def test_bulk_visibility_and_delete_report_what_failed(dashboard: Dashboard, account: Account) -> None:
    kept = account.upload(picture(seed=1), "keep.png")
    first = account.upload(picture(seed=2), "first.png")
    second = account.upload(picture(seed=3), "second.png")
    page = dashboard.page
    dashboard.sign_in(account)
    meter = page.get_by_role("meter", name="Storage used")
    expect(dashboard.cards()).to_have_count(3)
    page.get_by_label("Select first.png", exact=True).check()
    page.get_by_label("Select second.png", exact=True).check()
    expect(page.get_by_text("2 images selected")).to_be_visible()
    page.get_by_role("button", name="Make private", exact=True).click()
    expect(dashboard.card("first.png").get_by_text("Private", exact=True)).to_be_visible()
    expect(dashboard.card("second.png").get_by_text("Private", exact=True)).to_be_visible()
    assert {i["id"]: i["isPublic"] for i in account.images()} == {
        kept["id"]: True,
        first["id"]: False,
        second["id"]: False,
    }
    # One of them goes away behind the page's back: the bulk action says which one failed.
    assert account.api("DELETE", f"/v1/images/{second['id']}").status_code == 200
    page.get_by_role("button", name="Make public", exact=True).click()
    expect(page.locator("#bulk-report")).to_contain_text("1 of 2 made public. Failed: second.png")
    before = meter.get_attribute("aria-valuetext")
    page.get_by_role("button", name="Delete selected", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete 2 images?")
    dashboard.check()
    dialog.get_by_role("button", name="Delete images", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(dashboard.cards()).to_have_count(1)
    expect(dashboard.card("keep.png")).to_be_visible()
    assert [i["id"] for i in account.images()] == [kept["id"]]
    expect(meter).not_to_have_attribute("aria-valuetext", before or "")
    assert requests.get(first["url"], timeout=10).status_code == 404


def test_keyboard_alone_skips_to_content_reaches_upload_and_shows_focus(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    dashboard.sign_in(account)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0, box
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file-input":
            break
    assert page.evaluate("document.activeElement.id") == "file-input"
    outline = page.evaluate("getComputedStyle(document.querySelector('label[for=file-input]')).outlineStyle")
    assert outline == "solid"


def test_library_looks_right_full_dark_and_at_360_px(dashboard: Dashboard, account: Account) -> None:
    shapes = [
        (1600, 1067),
        (1200, 1500),
        (1600, 900),
        (1000, 1000),
        (1500, 1000),
        (900, 1350),
        (1600, 1000),
        (1280, 853),
    ]
    names = ["harbour.jpg", "portrait.jpg", "dunes.png", "tiles.png", "forest.jpg", "tower.jpg", "lake.png", "city.jpg"]
    tags = [
        '["travel","2026"]',
        '["people"]',
        '["travel"]',
        "[]",
        '["nature"]',
        '["travel","city"]',
        '["nature"]',
        "[]",
    ]
    for n, ((width, height), name, tag) in enumerate(zip(shapes, names, tags, strict=True)):
        fmt = "JPEG" if name.endswith(".jpg") else "PNG"
        account.upload(
            picture(width, height, seed=n, fmt=fmt), name, tags=tag, isPublic="false" if n in (1, 5) else "true"
        )
    page = dashboard.page
    dashboard.sign_in(account)
    cards = dashboard.cards()
    expect(cards).to_have_count(8)
    wait_until(page, "[...document.querySelectorAll('#images img')].every((img) => img.complete && img.naturalWidth)")
    page.get_by_label("Select tiles.png", exact=True).check()
    dashboard.check()
    dashboard.screenshot("library")
    page.emulate_media(color_scheme="dark")
    dashboard.check()
    dashboard.screenshot("library-dark", full_page=False)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 360, "height": 780})
    page.reload()
    expect(cards).to_have_count(8)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    wait_until(page, "() => [...document.querySelectorAll('#images img')].slice(0, 4).every((i) => i.complete)")
    dashboard.check()
    dashboard.screenshot("library-360", full_page=False)
