"""``/v1/keys`` over real sockets: create, list without secrets, last use, revoke, the 20-key cap, and
the CLI's ``keys create``/``keys revoke`` agreeing with the API."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from config import Settings
from tests.conftest import Origin
from tests.spec_validation import Contract

CONTRACT = Contract()


async def call(origin: Origin, method: str, path: str, key: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
    response = await origin.client.request(method, path, json=payload, headers=origin.auth(key))
    body = await response.json()
    CONTRACT.check(method, path, response.status, body, response.headers)
    return response.status, dict(body)


async def test_keys_are_created_listed_without_secrets_and_revoked(origin: Origin) -> None:
    key = await origin.user("alice")
    status, created = await call(origin, "POST", "/v1/keys", key, {"name": "  my   laptop "})
    assert status == 201
    new = created["data"]
    assert new["name"] == "my laptop"
    assert new["prefix"] == new["key"][:12] + "…"
    status, listing = await call(origin, "GET", "/v1/keys", new["key"])
    items = listing["data"]["items"]
    assert [item["name"] for item in items] == ["", "my laptop"]  # oldest first
    assert new["key"] not in str(listing)
    assert key not in str(listing)
    mine = next(item for item in items if item["id"] == new["id"])
    assert mine["lastUsedAt"] is not None  # the listing call itself used it
    assert mine["createdAt"] == new["createdAt"]
    status, revoked = await call(origin, "DELETE", f"/v1/keys/{new['id']}", key)
    assert (status, revoked["data"]) == (200, {"id": new["id"], "deleted": True})
    status, body = await call(origin, "GET", "/v1/usage", new["key"])
    assert (status, body["error"]["code"]) == (401, "INVALID_TOKEN")
    status, body = await call(origin, "DELETE", f"/v1/keys/{new['id']}", key)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


async def test_another_users_key_is_not_found_and_keeps_working(origin: Origin) -> None:
    alice = await origin.user("alice")
    bob = await origin.user("bob")
    _, listing = await call(origin, "GET", "/v1/keys", bob)
    bob_id = listing["data"]["items"][0]["id"]
    for key_id in (bob_id, "0123456789abcdef", "nonsense", "x" * 300):
        status, body = await call(origin, "DELETE", f"/v1/keys/{key_id}", alice)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND"), key_id
    assert (await call(origin, "GET", "/v1/usage", bob))[0] == 200


async def test_bad_names_are_refused(origin: Origin) -> None:
    key = await origin.user("alice")
    for payload in ({}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "x" * 65}, {"name": "a\u0000b"},
                    {"name": "ok", "scopes": []}):  # fmt: skip
        status, body = await call(origin, "POST", "/v1/keys", key, payload)
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), payload
    response = await origin.client.post("/v1/keys", data=b"[1]", headers=origin.auth(key))
    assert response.status == 400


async def test_at_most_twenty_keys_even_when_asked_at_once(origin: Origin) -> None:
    key = await origin.user("alice")  # one key already
    answers = await asyncio.gather(*(call(origin, "POST", "/v1/keys", key, {"name": f"k{i}"}) for i in range(25)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * 19 + [409] * 6
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"]["code"] == "TOO_MANY_KEYS"
    assert refused["error"]["maxKeys"] == 20
    _, listing = await call(origin, "GET", "/v1/keys", key)
    assert len(listing["data"]["items"]) == 20


async def _cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    env |= {"PICORA_REDIS_URL": str(settings.redis_url), "PICORA_DATA_DIR": str(settings.data_dir)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "origin.cli", "keys", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode().strip()


async def test_the_cli_and_the_api_agree(origin: Origin, base_settings: Settings) -> None:
    code, cli_key = await _cli(base_settings, "create", "--user", "carol", "--name", "laptop")
    assert code == 0, cli_key
    _, listing = await call(origin, "GET", "/v1/keys", cli_key)
    assert [(item["name"], item["prefix"]) for item in listing["data"]["items"]] == [("laptop", cli_key[:12] + "…")]
    signed_in = await origin.client.post("/v1/sessions", json={"apiKey": cli_key})
    assert signed_in.status == 201
    cookie = {"Cookie": f"picora_session={signed_in.cookies['picora_session'].value}"}
    origin.client.session.cookie_jar.clear()
    assert (await origin.client.get("/v1/usage", headers=cookie)).status == 200
    assert await _cli(base_settings, "revoke", cli_key) == (0, "revoked")
    assert (await origin.client.get("/v1/usage", headers=cookie)).status == 401
    _, created = await call(origin, "POST", "/v1/keys", await origin.user("dave"), {"name": "api"})
    assert await _cli(base_settings, "revoke", created["data"]["key"]) == (0, "revoked")
    assert (await call(origin, "GET", "/v1/keys", created["data"]["key"]))[0] == 401
