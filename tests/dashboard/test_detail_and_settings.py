"""The detail page, settings and sign-out in a real browser, each checked against what the origin
then does for everyone else (anonymous fetches, another browser, curl)."""

from __future__ import annotations

import subprocess

import requests
from playwright.sync_api import Browser, expect

from tests.dashboard.browser import Account, Dashboard, picture


def curl_status(url: str, key: str) -> str:
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {key}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout


def test_detail_switches_visibility_saves_tags_and_signs_links(
    dashboard: Dashboard, account: Account, browser: Browser
) -> None:
    image = account.upload(picture(900, 600, seed=4), "harbour.png")
    page = dashboard.page
    dashboard.sign_in(account)
    dashboard.images().get_by_role("link", name="harbour.png", exact=True).click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/images/{image['id']}")
    expect(page.get_by_role("heading", name="harbour.png", level=1)).to_be_visible()
    expect(page.get_by_text("900 \N{MULTIPLICATION SIGN} 600 px")).to_be_visible()
    expect(page.get_by_text("PNG", exact=True)).to_be_visible()
    dashboard.check()

    assert requests.get(image["url"], timeout=10).status_code == 200
    page.get_by_label("Public", exact=True).uncheck()
    expect(page.get_by_role("status")).to_contain_text("private now")
    assert requests.get(image["url"], timeout=10).status_code == 401
    expect(page.get_by_role("button", name="Create signed link", exact=True)).to_be_visible()

    tags = page.get_by_label("Tags", exact=True)
    tags.fill("Harbour, boats , 2026")
    page.get_by_role("button", name="Save tags", exact=True).click()
    expect(tags).to_have_value("harbour, boats, 2026")
    assert account.api("GET", f"/v1/images/{image['id']}").json()["data"]["tags"] == ["harbour", "boats", "2026"]

    page.get_by_label("Expires in", exact=True).select_option(label="1 day")
    page.get_by_role("button", name="Create signed link", exact=True).click()
    signed = page.get_by_label("Signed link", exact=True)
    expect(signed).not_to_have_value("")
    url = signed.input_value()
    assert url.startswith(image["url"] + "?")
    stranger = browser.new_context()
    try:
        response = stranger.new_page().goto(url)
        assert response is not None
        assert response.status == 200
        assert response.headers["content-type"] == "image/png"
    finally:
        stranger.close()
    dashboard.screenshot("detail")

    tags.fill(", ".join(f"t{n}" for n in range(11)))
    page.get_by_role("button", name="Save tags", exact=True).click()
    refusal = page.get_by_role("alert").filter(has_text="Tags not saved")
    expect(refusal).to_contain_text("10")
    expect(tags).to_have_attribute("aria-invalid", "true")
    assert account.api("GET", f"/v1/images/{image['id']}").json()["data"]["tags"] == ["harbour", "boats", "2026"]
    dashboard.check()


def test_deleting_from_the_detail_page_asks_first_then_the_image_is_gone(
    dashboard: Dashboard, account: Account
) -> None:
    image = account.upload(picture(seed=2), "old.png")
    account.upload(picture(seed=3), "other.png")
    page = dashboard.page
    dashboard.sign_in(account, start=f"/dashboard/images/{image['id']}")
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete old.png?")
    expect(dialog.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    dashboard.check()
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Delete", exact=True)).to_be_focused()
    assert requests.get(image["url"], timeout=10).status_code == 200
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete image", exact=True).click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/")
    expect(page.get_by_role("status")).to_contain_text("old.png was deleted")
    expect(dashboard.card("other.png")).to_be_visible()
    expect(dashboard.card("old.png")).to_have_count(0)
    assert requests.get(image["url"], timeout=10).status_code == 404
    assert account.api("GET", f"/v1/images/{image['id']}").status_code == 404
    page.goto(f"/dashboard/images/{image['id']}")
    expect(page.get_by_role("alert")).to_contain_text("does not exist")


def test_hotlink_rules_are_saved_refused_when_invalid_and_enforced(dashboard: Dashboard, account: Account) -> None:
    image = account.upload(picture(seed=5), "embed.png")
    page = dashboard.page
    dashboard.sign_in(account, start="/dashboard/settings")
    page.get_by_label("Hotlink protection", exact=True).check()
    page.get_by_label("Allowed domains", exact=True).fill("not a domain!")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Not saved")).to_be_visible()
    dashboard.check()
    page.get_by_label("Allowed domains", exact=True).fill("example.org\n*.example.org\n")
    page.get_by_label("Allow empty Referer", exact=True).uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Hotlink settings saved")
    page.reload()
    expect(page.get_by_label("Hotlink protection", exact=True)).to_be_checked()
    expect(page.get_by_label("Allowed domains", exact=True)).to_have_value("example.org\n*.example.org")
    expect(page.get_by_label("Allow empty Referer", exact=True)).not_to_be_checked()
    headers = {"Referer": "https://thief.example.net/page"}
    assert requests.get(image["url"], headers=headers, timeout=10).status_code == 403
    assert requests.get(image["url"], headers={"Referer": "https://blog.example.org/"}, timeout=10).status_code == 200
    assert requests.get(image["url"], timeout=10).status_code == 403


def test_api_keys_are_created_shown_once_used_with_curl_and_revoked(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    dashboard.sign_in(account, start="/dashboard/settings")
    page.get_by_label("Key name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create key", exact=True).click()
    new_key = page.get_by_label("New API key", exact=True)
    expect(new_key).to_be_visible()
    key = new_key.input_value()
    assert key.startswith("sk_live_")
    row = page.get_by_role("row").filter(has_text="laptop")
    expect(row).to_contain_text(key[:12])
    expect(row).not_to_contain_text(key)
    usage = f"{dashboard.base}/v1/usage"
    assert curl_status(usage, key) == "200"
    dashboard.check()
    dashboard.screenshot("settings")
    row.get_by_role("button", name="Revoke", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Revoke laptop?")
    dialog.get_by_role("button", name="Revoke key", exact=True).click()
    expect(row).to_have_count(0)
    assert curl_status(usage, key) == "401"
    assert curl_status(usage, account.key) == "200"


def test_sign_out_ends_the_session_everywhere(dashboard: Dashboard, account: Account) -> None:
    page = dashboard.page
    dashboard.sign_in(account)
    cookie = next(c for c in page.context.cookies() if c["name"] == "picora_session")
    assert cookie["httpOnly"] is True
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(f"{dashboard.base}/dashboard/sign-in?signed-out=1")
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto("/dashboard/")
    expect(page).to_have_url(f"{dashboard.base}/dashboard/sign-in?next=/dashboard/")
    stale = requests.get(f"{dashboard.base}/v1/images", cookies={"picora_session": cookie["value"]}, timeout=10)
    assert stale.status_code == 401
