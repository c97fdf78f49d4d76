"""Dashboard sessions: real JWTs, forged every way we know, against the live origin."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from config import Settings
from config.credentials import AccessSettings, JwtSettings
from config.settings import with_overrides
from tests import images
from tests.conftest import AiohttpClient, Origin, start_origin

SECRET = "s" * 48
ISSUER, AUDIENCE = "https://dashboard.picora.test", "picora-origin"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned(payload: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def hand_signed(header: dict[str, Any], payload: dict[str, Any], sign: Any) -> str:
    """A token built by hand, for forms pyjwt refuses to produce."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hs256_with(secret: bytes) -> Any:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def rs256_with(key: rsa.RSAPrivateKey) -> Any:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
async def hs_origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    jwt_settings = JwtSettings(algorithms=("HS256",), secret=SECRET, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=5)
    return await start_origin(aiohttp_client, with_overrides(base_settings, access=AccessSettings(jwt=jwt_settings)))


RSA_K1, RSA_K2, RSA_OTHER = rsa_key(), rsa_key(), rsa_key()
EC_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
async def rs_origin(aiohttp_client: AiohttpClient, base_settings: Settings) -> Origin:
    jwt_settings = JwtSettings(
        algorithms=("RS256",),
        public_keys={"k1": public_pem(RSA_K1), "k2": public_pem(RSA_K2)},
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    return await start_origin(aiohttp_client, with_overrides(base_settings, access=AccessSettings(jwt=jwt_settings)))


async def _usage_status(origin: Origin, token: str) -> tuple[int, str]:
    response = await origin.client.get("/v1/usage", headers={"Authorization": f"Bearer {token}"})
    return response.status, response.headers.get("WWW-Authenticate", "")


async def test_a_valid_hs256_session_is_accepted(hs_origin: Origin) -> None:
    status, _ = await _usage_status(hs_origin, jwt.encode(claims(), SECRET, algorithm="HS256"))
    assert status == 200


HS_FORGERIES: dict[str, Callable[[], str]] = {
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"),
    "issued-in-future": lambda: jwt.encode(claims(iat=int(time.time()) + 3600), SECRET, algorithm="HS256"),
    "wrong-secret": lambda: jwt.encode(claims(), "x" * 48, algorithm="HS256"),
    "wrong-issuer": lambda: jwt.encode(claims(iss="https://evil.test"), SECRET, algorithm="HS256"),
    "no-issuer": lambda: jwt.encode(claims(iss=None), SECRET, algorithm="HS256"),
    "wrong-audience": lambda: jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
    "no-audience": lambda: jwt.encode(claims(aud=None), SECRET, algorithm="HS256"),
    "no-exp": lambda: jwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
    "no-iat": lambda: jwt.encode(claims(iat=None), SECRET, algorithm="HS256"),
    "no-sub": lambda: jwt.encode(claims(sub=None), SECRET, algorithm="HS256"),
    "sub-not-a-user-id": lambda: jwt.encode(claims(sub="../admin"), SECRET, algorithm="HS256"),
    "sub-not-a-string": lambda: jwt.encode(claims(sub=42), SECRET, algorithm="HS256"),
    "alg-none": lambda: unsigned(claims()),
    "alg-HS512-not-configured": lambda: hand_signed(
        {"alg": "HS512"}, claims(), lambda data: hmac.new(SECRET.encode(), data, hashlib.sha512).digest()
    ),
    "rs256-token": lambda: jwt.encode(claims(), RSA_K1, algorithm="RS256"),
    "garbage": lambda: "not-a-token",
    "three-empty-parts": lambda: "..",
    "bad-base64": lambda: "@@@.###.$$$",
    "truncated": lambda: jwt.encode(claims(), SECRET, algorithm="HS256")[:-10],
    "header-not-json": lambda: b64(b"{nope") + "." + b64(b"{}") + ".sig",
}


@pytest.mark.parametrize("forgery", sorted(HS_FORGERIES))
async def test_forged_hs256_sessions_are_401_invalid_token(hs_origin: Origin, forgery: str) -> None:
    status, challenge = await _usage_status(hs_origin, HS_FORGERIES[forgery]())
    assert status == 401
    assert 'error="invalid_token"' in challenge


async def test_rs256_sessions_with_either_configured_key_are_accepted(rs_origin: Origin) -> None:
    for kid, key in (("k1", RSA_K1), ("k2", RSA_K2)):
        token = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": kid})
        assert (await _usage_status(rs_origin, token))[0] == 200


RS_FORGERIES: dict[str, Callable[[], str]] = {
    "unknown-kid": lambda: jwt.encode(claims(), RSA_K1, algorithm="RS256", headers={"kid": "k9"}),
    "signed-by-other-key": lambda: jwt.encode(claims(), RSA_OTHER, algorithm="RS256", headers={"kid": "k1"}),
    "kid-swapped": lambda: jwt.encode(claims(), RSA_K1, algorithm="RS256", headers={"kid": "k2"}),
    "no-kid-with-two-keys": lambda: jwt.encode(claims(), RSA_K1, algorithm="RS256"),
    "jku-pointing-elsewhere": lambda: jwt.encode(
        claims(), RSA_OTHER, algorithm="RS256", headers={"kid": "k1", "jku": "https://evil.test/jwks.json"}
    ),
    "key-confusion-hs256-with-public-pem": lambda: hand_signed(
        {"alg": "HS256", "kid": "k1"}, claims(), hs256_with(public_pem(RSA_K1).encode())
    ),
    "es256": lambda: jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "k1"}),
    "alg-none": lambda: unsigned(claims()),
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 120), RSA_K1, algorithm="RS256", headers={"kid": "k1"}),
    "kid-not-a-string": lambda: hand_signed({"alg": "RS256", "kid": 7}, claims(), rs256_with(RSA_K1)),
}


@pytest.mark.parametrize("forgery", sorted(RS_FORGERIES))
async def test_forged_rs256_sessions_are_401_invalid_token(rs_origin: Origin, forgery: str) -> None:
    status, challenge = await _usage_status(rs_origin, RS_FORGERIES[forgery]())
    assert status == 401
    assert 'error="invalid_token"' in challenge


async def test_sessions_are_refused_when_none_are_configured(origin: Origin) -> None:
    status, challenge = await _usage_status(origin, jwt.encode(claims(), SECRET, algorithm="HS256"))
    assert status == 401
    assert 'error="invalid_token"' in challenge


async def test_a_session_cookie_opens_the_owners_private_image_and_a_bad_one_is_401(hs_origin: Origin) -> None:
    key = await hs_origin.user("alice")
    image = await hs_origin.upload_ok(key, images.png(), isPublic="false")
    path = f"/{image['id']}.png"
    token = jwt.encode(claims(sub="alice"), SECRET, algorithm="HS256")
    by_cookie = await hs_origin.client.get(path, headers={"Cookie": f"picora_session={token}"})
    assert by_cookie.status == 200
    assert await by_cookie.read() == images.png()
    assert "private" in by_cookie.headers["Cache-Control"]
    by_header = await hs_origin.client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert by_header.status == 200
    bob = jwt.encode(claims(sub="bob"), SECRET, algorithm="HS256")
    assert (await hs_origin.client.get(path, headers={"Cookie": f"picora_session={bob}"})).status == 404
    forged = await hs_origin.client.get(path, headers={"Cookie": "picora_session=forged.token.value"})
    assert forged.status == 401
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]


async def test_a_session_can_use_the_api_as_its_user(hs_origin: Origin) -> None:
    await hs_origin.user("alice", plan="pro")
    token = jwt.encode(claims(sub="alice"), SECRET, algorithm="HS256")
    usage = await hs_origin.client.get("/v1/usage", headers={"Authorization": f"Bearer {token}"})
    assert (await usage.json())["data"]["plan"] == "pro"
