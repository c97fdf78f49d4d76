"""The OpenAPI document against the code: routes, served copy, and the answers no fuzzer reaches.

The route test is what keeps the document complete: a ``/v1`` route added without a description
(or a description left behind by a removed route) fails here. Quota, rate limits, outages and the
other error paths are provoked on purpose and each answer is checked against the document.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from auth.webhook_signature import sign
from config import Settings
from config.purge import PurgeSettings
from config.settings import with_overrides
from origin.api.openapi import SPEC_URL, load_spec
from origin.app import create_app
from origin.app_keys import IMAGES
from origin.errors import StorageError
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin
from tests.images import noise_png
from tests.spec_validation import METHODS, Contract

CONTRACT = Contract()


async def _check(contract: Contract, method: str, path: str, response: Any) -> dict[str, Any]:
    """Check one aiohttp response against the document and return its JSON body."""
    body = await response.json()
    contract.check(method, path.split("?", 1)[0], response.status, body, response.headers)
    return dict(body)


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = load_spec()
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def test_every_v1_route_is_described_and_every_description_is_routed(base_settings: Settings) -> None:
    app = create_app(base_settings)
    routed = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/v1/")
        and route.method != "HEAD"  # aiohttp adds HEAD to every GET; the document describes GET
    }
    assert routed == CONTRACT.operations()


def test_operations_are_named_and_document_the_errors_every_call_can_get() -> None:
    spec = load_spec()
    ids = [op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))
    for path, item in spec["paths"].items():
        for method, operation in ((m, op) for m, op in item.items() if m in METHODS):
            name = f"{method.upper()} {path}"
            assert operation.get("summary"), name
            security = operation.get("security", spec["security"])
            if security == spec["security"]:  # users' keys and sessions, charged to a per-minute budget
                assert {"401", "429", "503"} <= set(operation["responses"]), name
            elif security:  # service credentials, no budget
                assert {"401", "503"} <= set(operation["responses"]), name
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), name


def test_the_checker_refuses_what_the_document_does_not_promise() -> None:
    """The helper every contract test leans on must be able to fail."""
    usage = {"plan": "free", "maxFileBytes": 1, "img_storage": {"usedBytes": 0, "limitBytes": 1}}
    CONTRACT.check("GET", "/v1/usage", 200, {"success": True, "data": usage}, {})
    with pytest.raises(AssertionError, match="answered 418"):
        CONTRACT.check("GET", "/v1/usage", 418, {}, {})
    with pytest.raises(AssertionError, match="Additional properties"):
        CONTRACT.check("GET", "/v1/usage", 200, {"success": True, "data": {**usage, "extra": 1}}, {})
    error = {"success": False, "error": {"code": "RATE_LIMITED", "message": "slow down", "retryAfterSeconds": 3}}
    with pytest.raises(AssertionError, match="no Retry-After"):
        CONTRACT.check("GET", "/v1/usage", 429, error, {"Cache-Control": "no-store"})
    with pytest.raises(AssertionError, match="not described"):
        CONTRACT.check("GET", "/v1/nothing-here", 200, {}, {})


async def test_the_served_document_is_the_file_and_needs_no_credentials(origin: Origin) -> None:
    response = await origin.client.get(SPEC_URL)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await _check(CONTRACT, "GET", SPEC_URL, response) == load_spec()


async def test_credential_failures_match_the_document(origin: Origin) -> None:
    key = await origin.user()
    session_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    cases = [
        ({}, "UNAUTHORIZED"),
        ({"Authorization": f"Basic {key}"}, "UNAUTHORIZED"),
        ({"Authorization": "Bearer sk_live_" + "x" * 32}, "INVALID_TOKEN"),
        ({"Authorization": f"Bearer {session_token}"}, "INVALID_TOKEN"),
        ({"Cookie": f"picora_session={session_token}"}, "INVALID_TOKEN"),
    ]
    for headers, code in cases:
        for method, path in (("GET", "/v1/usage"), ("DELETE", "/v1/images/xK9mR2pQ7vB")):
            response = await origin.client.request(method, path, headers=headers)
            body = await _check(CONTRACT, method, path, response)
            assert response.status == 401
            assert body["error"]["code"] == code, (headers, method)


async def test_upload_refusals_match_the_document(origin: Origin) -> None:
    key = await origin.user()
    truncated = images.png((200, 200))[:-40]
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b"plain text, not an image", {}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"", {}, 400, "EMPTY_FILE"),
        (truncated, {}, 400, "INVALID_IMAGE"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><g></svg>", {}, 400, "INVALID_SVG"),
        (images.pixel_bomb(20_000, 20_000), {}, 400, "IMAGE_TOO_MANY_PIXELS"),
        (images.png(), {"isPublic": "maybe"}, 400, "VALIDATION_ERROR"),
        (images.png(), {"tags": '["a", 5]'}, 400, "INVALID_TAGS"),
        (images.png(), {"tags": "x" * 9000}, 400, "BAD_REQUEST"),
    ]
    for data, fields, status, code in cases:
        response = await origin.upload(key, data, **fields)
        body = await _check(CONTRACT, "POST", "/v1/images", response)
        assert (response.status, body["error"]["code"]) == (status, code), body
    not_a_form = await origin.client.post("/v1/images", json={"file": "x"}, headers=origin.auth(key))
    body = await _check(CONTRACT, "POST", "/v1/images", not_a_form)
    assert (not_a_form.status, body["error"]["code"]) == (400, "INVALID_FORM")


async def test_plan_limits_match_the_document(origin: Origin) -> None:
    key = await origin.user(plan="tiny")  # 200 KB per file, 300 KB in all
    too_big = await origin.upload(key, noise_png(300, 1))
    body = await _check(CONTRACT, "POST", "/v1/images", too_big)
    assert (too_big.status, body["error"]["maxFileBytes"]) == (413, 200_000)
    first = await origin.upload(key, noise_png(250, 2))  # ~190 KB
    await _check(CONTRACT, "POST", "/v1/images", first)
    assert first.status == 201
    over_quota = await origin.upload(key, noise_png(250, 3))
    body = await _check(CONTRACT, "POST", "/v1/images", over_quota)
    assert (over_quota.status, body["error"]["code"]) == (403, "QUOTA_EXCEEDED")


async def test_rate_limits_match_the_document(origin: Origin) -> None:
    key = await origin.user(plan="limited")  # 5 requests and 3 uploads per minute
    responses = await asyncio.gather(*(origin.client.get("/v1/usage", headers=origin.auth(key)) for _ in range(6)))
    for response in responses:
        await _check(CONTRACT, "GET", "/v1/usage", response)
    assert sorted(r.status for r in responses) == [200] * 5 + [429]
    uploads = [await origin.upload(key, images.png()) for _ in range(4)]
    for response in uploads:
        await _check(CONTRACT, "POST", "/v1/images", response)
    assert [r.status for r in uploads] == [201, 201, 201, 429]


async def test_oversized_json_bodies_match_the_document(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    huge = b'{"tags": [' + b'"a",' * 300_000 + b'"a"]}'
    headers = {**origin.auth(key), "Content-Type": "application/json"}
    for method, path in (
        ("PATCH", f"/v1/images/{image['id']}"),
        ("POST", f"/v1/images/{image['id']}/signed-url"),
        ("PUT", "/v1/settings/hotlink"),
    ):
        response = await origin.client.request(method, path, data=huge, headers=headers)
        body = await _check(CONTRACT, method, path, response)
        assert (response.status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


class _BrokenStorage:
    """Forwards to the real backend, except that writes fail as an unreachable bucket would."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        raise StorageError("bucket unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_storage_outage_matches_the_document(origin: Origin) -> None:
    key = await origin.user()
    service = origin.app[IMAGES]
    service.storage = _BrokenStorage(service.storage)
    response = await origin.upload(key, images.png())
    body = await _check(CONTRACT, "POST", "/v1/images", response)
    assert (response.status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    usage = await (await origin.client.get("/v1/usage", headers=origin.auth(key))).json()
    assert usage["data"]["img_storage"]["usedBytes"] == 0


async def test_purge_answers_match_the_document(aiohttp_client: AiohttpClient, base_settings: Settings) -> None:
    secret = "p" * 32
    settings = with_overrides(base_settings, purge=PurgeSettings(secrets=(secret,)))
    origin = await start_origin(aiohttp_client, settings)
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())

    async def purge(raw: bytes, signature: str | None = None) -> tuple[int, dict[str, Any]]:
        signed = sign(secret, int(time.time()), raw) if signature is None else signature
        headers = {"X-Picora-Signature": signed, "Content-Type": "application/json"}
        response = await origin.client.post("/v1/purge", data=raw, headers=headers)
        return response.status, await _check(CONTRACT, "POST", "/v1/purge", response)

    status, body = await purge(json.dumps({"ids": [image["id"]], "urls": [image["url"] + "?v=2"]}).encode())
    assert status == 202
    assert body["data"]["purged"]["ids"] == [image["id"]]
    status, body = await purge(b'{"ids": ["nope"]}')
    assert (status, body["error"]["code"], body["error"]["invalidIds"]) == (400, "INVALID_PURGE", ["nope"])
    status, body = await purge(b"{not json")
    assert (status, body["error"]["code"]) == (400, "INVALID_JSON")
    status, body = await purge(b'{"ids": []}', signature="t=1,v1=00")
    assert (status, body["error"]["code"]) == (401, "INVALID_SIGNATURE")


async def test_a_whole_number_written_with_a_fraction_is_a_valid_expiry(origin: Origin) -> None:
    """JSON Schema's ``integer`` (what the document says) includes 600.0; the handler once refused it."""
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    path = f"/v1/images/{image['id']}/signed-url"
    whole = await origin.client.post(path, data=b'{"expiresIn": 600.0}', headers=origin.auth(key))
    assert whole.status == 200
    await _check(CONTRACT, "POST", path, whole)
    fraction = await origin.client.post(path, data=b'{"expiresIn": 600.5}', headers=origin.auth(key))
    assert fraction.status == 400
    await _check(CONTRACT, "POST", path, fraction)
