"""Origin-issued sessions over real sockets with a real redis-server: sign-in, the cookie, its use on
``/v1`` and on private media, sign-out, expiry, refused tokens, CSRF, and the sign-in limit.

Cookies are sent by hand (the client's own jar is emptied after each sign-in), so every request
carries exactly the credentials the test names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import replace
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import jwt

from config import Settings
from config.credentials import JwtSettings
from config.settings import with_overrides
from origin.app_keys import REDIS, SESSIONS, SETTINGS
from origin.images import redis_keys as rk
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.spec_validation import Contract

CONTRACT = Contract()
JWT_SECRET = "j" * 48


def with_sessions(settings: Settings, **changes: Any) -> Settings:
    sessions = replace(settings.access.sessions, **changes)
    return with_overrides(settings, access=replace(settings.access, sessions=sessions))


async def checked(method: str, path: str, response: aiohttp.ClientResponse) -> dict[str, Any]:
    body = await response.json()
    CONTRACT.check(method, path, response.status, body, response.headers)
    return dict(body)


async def sign_in(origin: Origin, key: str, **headers: str) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
    response = await origin.client.post("/v1/sessions", json={"apiKey": key}, headers=headers)
    body = await checked("POST", "/v1/sessions", response)
    origin.client.session.cookie_jar.clear()
    return response, body


async def session_of(origin: Origin, key: str) -> tuple[dict[str, str], str]:
    """Cookie headers of a new session for ``key``, and its CSRF token."""
    response, body = await sign_in(origin, key)
    assert response.status == 201, body
    token = response.cookies["picora_session"].value
    return {"Cookie": f"picora_session={token}"}, body["data"]["csrfToken"]


def set_cookie(response: aiohttp.ClientResponse) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["Set-Cookie"])
    return cookie


async def test_sign_in_sets_a_guarded_cookie_and_answers_the_session(origin: Origin) -> None:
    key = await origin.user("alice", plan="pro")
    response, body = await sign_in(origin, key)
    assert response.status == 201
    data = body["data"]
    assert data["user"] == {"id": "alice", "plan": "pro"}
    assert len(data["csrfToken"]) >= 40
    expires = time.mktime(time.strptime(data["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 7 * 86400)) < 10
    raw = response.headers["Set-Cookie"]
    morsel = set_cookie(response)["picora_session"]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True  # the public URL (here the media base URL) is https
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(7 * 86400)
    assert "Domain" not in raw
    assert response.headers["Cache-Control"] == "no-store"
    assert jwt.get_unverified_header(morsel.value)["typ"] == "picora-session"


async def test_the_cookie_is_not_secure_when_the_public_url_is_http(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_sessions(base_settings, public_url="http://picora.test"))
    response, _ = await sign_in(origin, await origin.user())
    assert response.status == 201
    assert not set_cookie(response)["picora_session"]["secure"]


async def test_the_session_works_on_v1_and_on_private_media(origin: Origin) -> None:
    key = await origin.user("alice")
    image = await origin.upload_ok(key, images.png(), isPublic="false")
    cookie, _ = await session_of(origin, key)
    usage = await origin.client.get("/v1/usage", headers=cookie)
    assert usage.status == 200
    listing = await checked("GET", "/v1/images", await origin.client.get("/v1/images", headers=cookie))
    assert [item["id"] for item in listing["data"]["items"]] == [image["id"]]
    path = "/" + image["url"].rsplit("/", 1)[1]
    owner = await origin.client.get(path, headers=cookie)
    assert owner.status == 200
    assert await owner.read() == images.png()
    assert owner.headers["Cache-Control"] == "private, no-cache"
    other_cookie, _ = await session_of(origin, await origin.user("bob"))
    assert (await origin.client.get(path, headers=other_cookie)).status == 404
    assert (await origin.client.get(path)).status == 401
    current = await checked(
        "GET", "/v1/sessions/current", await origin.client.get("/v1/sessions/current", headers=cookie)
    )
    assert current["data"]["user"]["id"] == "alice"


async def test_current_session_repeats_the_sign_in_answer(origin: Origin) -> None:
    key = await origin.user("alice")
    response, body = await sign_in(origin, key)
    token = response.cookies["picora_session"].value
    for headers in ({"Cookie": f"picora_session={token}"}, {"Authorization": f"Bearer {token}"}):
        current = await origin.client.get("/v1/sessions/current", headers=headers)
        assert (await checked("GET", "/v1/sessions/current", current))["data"] == body["data"]
    for headers in ({}, {"Authorization": f"Bearer {key}"}):
        refused = await origin.client.get("/v1/sessions/current", headers=headers)
        assert refused.status == 401
        await checked("GET", "/v1/sessions/current", refused)


async def test_sign_out_ends_the_session_and_clears_the_cookie(origin: Origin) -> None:
    key = await origin.user("alice")
    cookie, csrf = await session_of(origin, key)
    kept, _ = await session_of(origin, key)  # another session of the same key (another browser)
    response = await origin.client.delete("/v1/sessions/current", headers={**cookie, "X-CSRF-Token": csrf})
    body = await checked("DELETE", "/v1/sessions/current", response)
    assert body["data"] == {"signedOut": True}
    cleared = set_cookie(response)["picora_session"]
    assert cleared.value == ""
    assert cleared["max-age"] == "0"
    for method, path in (("GET", "/v1/sessions/current"), ("GET", "/v1/usage"), ("DELETE", "/v1/sessions/current")):
        after = await origin.client.request(method, path, headers={**cookie, "X-CSRF-Token": csrf})
        assert (after.status, (await after.json())["error"]["code"]) == (401, "INVALID_TOKEN")
    assert (await origin.client.get("/v1/usage", headers=kept)).status == 200


async def test_revoking_the_key_ends_its_sessions(origin: Origin) -> None:
    key = await origin.user("alice")
    other = await _second_key(origin, key)
    cookie, _ = await session_of(origin, key)
    survivor, _ = await session_of(origin, other)
    listing = await (await origin.client.get("/v1/keys", headers=origin.auth(other))).json()
    key_id = next(item["id"] for item in listing["data"]["items"] if key.startswith(item["prefix"].rstrip("…")))
    revoked = await origin.client.delete(f"/v1/keys/{key_id}", headers=origin.auth(other))
    assert revoked.status == 200
    assert (await origin.client.get("/v1/usage", headers=cookie)).status == 401
    assert (await origin.client.get("/v1/usage", headers=origin.auth(key))).status == 401
    assert (await origin.client.get("/v1/usage", headers=survivor)).status == 200
    again, body = await sign_in(origin, key)
    assert (again.status, body["error"]["code"]) == (401, "INVALID_TOKEN")


async def _second_key(origin: Origin, key: str) -> str:
    """Another key of the same user, made through the API."""
    response = await origin.client.post("/v1/keys", json={"name": "second"}, headers=origin.auth(key))
    return str((await response.json())["data"]["key"])


async def test_an_expired_session_is_refused(aiohttp_client: AiohttpClient, base_settings: Settings) -> None:
    origin = await start_origin(aiohttp_client, with_sessions(base_settings, ttl_seconds=1))
    cookie, _ = await session_of(origin, await origin.user())
    assert (await origin.client.get("/v1/usage", headers=cookie)).status == 200
    await asyncio.sleep(2.2)
    expired = await origin.client.get("/v1/usage", headers=cookie)
    assert (expired.status, (await expired.json())["error"]["code"]) == (401, "INVALID_TOKEN")


async def test_tampered_forged_and_foreign_key_cookies_are_refused(origin: Origin) -> None:
    key = await origin.user("alice")
    await origin.user("mallory")
    cookie, _ = await session_of(origin, key)
    token = cookie["Cookie"].split("=", 1)[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    head, payload, signature = token.split(".")
    ours = origin.app[SESSIONS].keys[0]
    header = {"typ": "picora-session"}
    forged = {
        "tampered": f"{head}.{jwt.encode({**claims, 'sub': 'mallory'}, 'x' * 48).split('.')[1]}.{signature}",
        "truncated signature": f"{head}.{payload}.{signature[:-4]}",
        "foreign key": jwt.encode(claims, "f" * 48, algorithm="HS256", headers=header),
        "alg none": jwt.encode(claims, "", algorithm="none", headers=header),
        "another user's id, our key, no session": jwt.encode({**claims, "sub": "mallory"}, ours, headers=header),
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 5}, ours, headers=header),
        "garbage": "x.y.z",
    }
    for name, bad in forged.items():
        for path in ("/v1/usage", "/v1/sessions/current"):
            response = await origin.client.get(path, headers={"Cookie": f"picora_session={bad}"})
            body = await checked("GET", path, response)
            assert (response.status, body["error"]["code"]) == (401, "INVALID_TOKEN"), name
    assert (await origin.client.get("/v1/usage", headers=cookie)).status == 200


async def _nothing_stored(origin: Origin, key: str) -> None:
    listing = await (await origin.client.get("/v1/images", headers=origin.auth(key))).json()
    assert listing["data"]["items"] == []
    usage = await (await origin.client.get("/v1/usage", headers=origin.auth(key))).json()
    assert usage["data"]["img_storage"]["usedBytes"] == 0
    redis = origin.app[REDIS]
    assert await redis.get(rk.quota(origin.keys[key])) in (None, "0")
    assert await redis.hlen(rk.pending(origin.keys[key])) == 0
    objects = origin.app[SETTINGS].objects_dir
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


async def test_cookie_uploads_without_the_csrf_token_or_from_another_origin_store_nothing(origin: Origin) -> None:
    key = await origin.user("alice")
    cookie, csrf = await session_of(origin, key)
    own = str(origin.client.make_url("")).rstrip("/")
    refused = [
        cookie,
        {**cookie, "X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")},
        {**cookie, "X-CSRF-Token": ""},
        {**cookie, "X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        {**cookie, "X-CSRF-Token": csrf, "Origin": "null"},
    ]
    for headers in refused:
        form = aiohttp.FormData()
        form.add_field("file", images.png(), filename="a.png", content_type="image/png")
        response = await origin.client.post("/v1/images", data=form, headers=headers)
        body = await checked("POST", "/v1/images", response)
        assert (response.status, body["error"]["code"]) == (403, "CSRF_FAILED"), headers
    await _nothing_stored(origin, key)
    for headers in ({**cookie, "X-CSRF-Token": csrf}, {**cookie, "X-CSRF-Token": csrf, "Origin": own}):
        form = aiohttp.FormData()
        form.add_field("file", images.png(), filename="a.png", content_type="image/png")
        accepted = await origin.client.post("/v1/images", data=form, headers=headers)
        assert accepted.status == 201, await accepted.text()


async def test_every_unsafe_cookie_call_needs_the_token_and_safe_ones_do_not(origin: Origin) -> None:
    key = await origin.user("alice")
    image = await origin.upload_ok(key, images.png())
    cookie, csrf = await session_of(origin, key)
    calls: list[tuple[str, str, Any]] = [
        ("PATCH", f"/v1/images/{image['id']}", {"isPublic": False}),
        ("POST", f"/v1/images/{image['id']}/signed-url", {}),
        ("PUT", "/v1/settings/hotlink", {"enabled": True}),
        ("POST", "/v1/keys", {"name": "evil"}),
        ("DELETE", f"/v1/images/{image['id']}", None),
        ("DELETE", "/v1/sessions/current", None),
    ]
    for method, path, payload in calls:
        response = await origin.client.request(method, path, json=payload, headers=cookie)
        body = await checked(method, path, response)
        assert (response.status, body["error"]["code"]) == (403, "CSRF_FAILED"), path
    unchanged = await (await origin.client.get(f"/v1/images/{image['id']}", headers=cookie)).json()
    assert unchanged["data"]["isPublic"] is True
    hotlink = await (await origin.client.get("/v1/settings/hotlink", headers=cookie)).json()
    assert hotlink["data"]["enabled"] is False
    assert len((await (await origin.client.get("/v1/keys", headers=cookie)).json())["data"]["items"]) == 1
    assert (await origin.client.get("/v1/sessions/current", headers=cookie)).status == 200
    patched = await origin.client.patch(
        f"/v1/images/{image['id']}", json={"isPublic": False}, headers={**cookie, "X-CSRF-Token": csrf}
    )
    assert patched.status == 200


async def test_bearer_calls_need_no_csrf_token_whatever_their_origin(origin: Origin) -> None:
    key = await origin.user("alice")
    cookie, _ = await session_of(origin, key)
    token = cookie["Cookie"].split("=", 1)[1]
    for credential in (key, token):
        headers = {"Authorization": f"Bearer {credential}", "Origin": "https://elsewhere.example"}
        form = aiohttp.FormData()
        form.add_field("file", images.png(), filename="a.png", content_type="image/png")
        response = await origin.client.post("/v1/images", data=form, headers=headers)
        assert response.status == 201, await response.text()
    # Authorization wins over a cookie sent alongside it: no CSRF check either.
    form = aiohttp.FormData()
    form.add_field("file", images.png(), filename="a.png", content_type="image/png")
    both = await origin.client.post("/v1/images", data=form, headers={**cookie, **origin.auth(key)})
    assert both.status == 201


async def test_external_jwt_cookie_sessions_need_their_csrf_token_too(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    settings = with_overrides(base_settings, access=replace(base_settings.access, jwt=JwtSettings(secret=JWT_SECRET)))
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user("alice")
    now = int(time.time())
    token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 600}, JWT_SECRET, algorithm="HS256")
    cookie = {"Cookie": f"picora_session={token}"}
    form = aiohttp.FormData()
    form.add_field("file", images.png(), filename="a.png", content_type="image/png")
    refused = await origin.client.post("/v1/images", data=form, headers=cookie)
    assert (refused.status, (await refused.json())["error"]["code"]) == (403, "CSRF_FAILED")
    await _nothing_stored(origin, key)
    current = await checked(
        "GET", "/v1/sessions/current", await origin.client.get("/v1/sessions/current", headers=cookie)
    )
    assert current["data"]["user"] == {"id": "alice", "plan": "free"}
    assert current["data"]["expiresAt"] is not None
    csrf = current["data"]["csrfToken"]
    other = jwt.encode({"sub": "alice", "iat": now, "exp": now + 601}, JWT_SECRET, algorithm="HS256")
    form = aiohttp.FormData()
    form.add_field("file", images.png(), filename="a.png", content_type="image/png")
    wrong_session = await origin.client.post(
        "/v1/images", data=form, headers={"Cookie": f"picora_session={other}", "X-CSRF-Token": csrf}
    )
    assert wrong_session.status == 403  # the token of one session is worthless with another
    form = aiohttp.FormData()
    form.add_field("file", images.png(), filename="a.png", content_type="image/png")
    accepted = await origin.client.post("/v1/images", data=form, headers={**cookie, "X-CSRF-Token": csrf})
    assert accepted.status == 201
    signed_out = await origin.client.delete("/v1/sessions/current", headers={**cookie, "X-CSRF-Token": csrf})
    assert signed_out.status == 200
    assert set_cookie(signed_out)["picora_session"]["max-age"] == "0"


async def test_sign_in_refusals_match_the_document(origin: Origin) -> None:
    key = await origin.user("alice")
    cases: list[tuple[Any, dict[str, str], int, str]] = [
        ({"apiKey": "sk_live_" + "x" * 32}, {}, 401, "INVALID_TOKEN"),
        ({"apiKey": "nonsense"}, {}, 401, "INVALID_TOKEN"),
        ({"apiKey": 5}, {}, 400, "VALIDATION_ERROR"),
        ({}, {}, 400, "VALIDATION_ERROR"),
        ({"apiKey": key, "remember": True}, {}, 400, "VALIDATION_ERROR"),
        ([key], {}, 400, "INVALID_JSON"),
        ({"apiKey": key}, {"Origin": "https://evil.example"}, 403, "CSRF_FAILED"),
    ]
    for payload, headers, status, code in cases:
        response = await origin.client.post("/v1/sessions", json=payload, headers=headers)
        body = await checked("POST", "/v1/sessions", response)
        assert (response.status, body["error"]["code"]) == (status, code), payload
        assert "Set-Cookie" not in response.headers
    unauthorized = await origin.client.post("/v1/sessions", json={"apiKey": "nonsense"})
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_sign_in_limit_holds_under_concurrent_attempts(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    origin = await start_origin(aiohttp_client, with_sessions(base_settings, sign_ins_per_minute=10))
    key = await origin.user("alice")
    guesses = [f"sk_live_{i:032d}" for i in range(40)]
    responses = await asyncio.gather(*(origin.client.post("/v1/sessions", json={"apiKey": g}) for g in guesses))
    statuses = sorted(r.status for r in responses)
    # 10 in the bucket, plus what refills (10 a minute) while the attempts run.
    assert 10 <= statuses.count(401) <= 11, statuses
    assert statuses.count(429) == len(guesses) - statuses.count(401)
    limited = next(r for r in responses if r.status == 429)
    body = await checked("POST", "/v1/sessions", limited)
    assert body["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 7
    right, _ = await sign_in(origin, key)
    assert right.status == 429  # the right key too: the limit is per address, not per guess


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    aiohttp_client: AiohttpClient, base_settings: Settings
) -> None:
    untrusted = await start_origin(aiohttp_client, with_sessions(base_settings, sign_ins_per_minute=2))
    statuses = [
        (
            await untrusted.client.post(
                "/v1/sessions", json={"apiKey": "x"}, headers={"X-Forwarded-For": f"10.0.0.{i}"}
            )
        ).status
        for i in range(4)
    ]
    assert statuses == [401, 401, 429, 429]  # a client cannot pick a fresh address per attempt

    await untrusted.app[REDIS].flushall()
    proxies = (ipaddress.ip_network("127.0.0.0/8"),)
    trusted = await start_origin(
        aiohttp_client, with_sessions(base_settings, sign_ins_per_minute=2, trusted_proxies=proxies)
    )
    for client_ip in ("203.0.113.7", "203.0.113.8"):
        for expected in (401, 401, 429):
            # the client wrote the first entry itself; the proxy appended the address it saw
            headers = {"X-Forwarded-For": f"198.51.100.1, {client_ip}"}
            response = await trusted.client.post("/v1/sessions", json={"apiKey": "x"}, headers=headers)
            assert response.status == expected, client_ip


async def test_sessions_add_no_redis_work_to_media_requests_with_a_key_or_none(origin: Origin) -> None:
    key = await origin.user("alice")
    private = await origin.upload_ok(key, images.png(), isPublic="false")
    public = await origin.upload_ok(key, images.noise_png(40))
    private_path, public_path = ("/" + image["url"].rsplit("/", 1)[1] for image in (private, public))
    assert (await origin.client.get(private_path, headers=origin.auth(key))).status == 200  # notes the key's use
    assert (await origin.client.get(public_path)).status == 200  # warms the memo and the body cache
    redis = origin.app[REDIS]
    await redis.config_resetstat()
    for _ in range(5):
        assert (await origin.client.get(public_path)).status == 200
    stats = await redis.info("commandstats")
    assert {name for name in stats if not name.startswith(("cmdstat_config", "cmdstat_info"))} == set()
    for _ in range(5):
        assert (await origin.client.get(private_path, headers=origin.auth(key))).status == 200
    stats = await redis.info("commandstats")
    used = {name for name in stats if not name.startswith(("cmdstat_config", "cmdstat_info"))}
    assert used == {"cmdstat_get", "cmdstat_hget"}, stats  # the key and its user's plan: nothing of sessions
