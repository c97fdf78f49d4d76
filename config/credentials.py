"""Access settings: dashboard JWTs, origin-issued sessions, signed-URL keys. Read with the rest of the settings."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from config.reader import FieldReader, string_list

#: A deployment accepts one family only: a token can never pick a weaker or confusable one.
ALGORITHM_FAMILIES: dict[str, frozenset[str]] = {
    "hmac": frozenset({"HS256", "HS384", "HS512"}),
    "rsa": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "ec": frozenset({"ES256", "ES384", "ES512"}),
    "okp": frozenset({"EdDSA"}),
}
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """How dashboard session tokens are verified. No secret and no keys: JWTs are refused."""

    algorithms: tuple[str, ...] = ("HS256",)
    secret: str | None = None
    public_keys: Mapping[str, str] = field(default_factory=dict)
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30
    cookie_name: str = "picora_session"

    @property
    def family(self) -> str:
        return next(name for name, algs in ALGORITHM_FAMILIES.items() if self.algorithms[0] in algs)

    @property
    def enabled(self) -> bool:
        return bool(self.secret) if self.family == "hmac" else bool(self.public_keys)


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Sessions the origin issues itself (``POST /v1/sessions``) and how their cookie is guarded."""

    #: HMAC keys of session tokens; the first signs, all verify. Empty: generated once, kept in Redis.
    keys: tuple[str, ...] = ()
    ttl_seconds: int = 7 * 86400
    #: Sign-in attempts allowed per client address and minute (a token bucket in Redis).
    sign_ins_per_minute: int = 10
    #: The origin's own URL (dashboard and API); empty: the media base URL. https makes the cookie
    #: ``Secure``, and its origin is what an ``Origin`` header of a cookie request may name.
    public_url: str = ""
    #: Peers whose ``X-Forwarded-For`` is believed when finding a client's address.
    trusted_proxies: tuple[IpNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessSettings:
    jwt: JwtSettings = field(default_factory=JwtSettings)
    sessions: SessionSettings = field(default_factory=SessionSettings)
    #: HMAC keys for signed URLs; the first signs, all verify (rotation). Empty: one is generated
    #: once and kept in Redis, so every instance agrees without configuration.
    signing_keys: tuple[str, ...] = ()
    signed_url_default_seconds: int = 3600
    signed_url_max_seconds: int = 7 * 86400
    #: Expiries are rounded up to this window so repeated signing yields one cacheable URL.
    signed_url_window_seconds: int = 300


ENV_KEYS: dict[str, str] = {
    "PICORA_JWT_ALGORITHMS": "jwt_algorithms",
    "PICORA_JWT_SECRET": "jwt_secret",
    "PICORA_JWT_PUBLIC_KEYS": "jwt_public_keys",
    "PICORA_JWT_ISSUER": "jwt_issuer",
    "PICORA_JWT_AUDIENCE": "jwt_audience",
    "PICORA_JWT_LEEWAY": "jwt_leeway",
    "PICORA_SESSION_COOKIE": "jwt_cookie_name",
    "PICORA_SESSION_KEYS": "session_keys",
    "PICORA_SESSION_TTL": "session_ttl",
    "PICORA_SIGN_IN_PER_MINUTE": "sign_in_per_minute",
    "PICORA_PUBLIC_URL": "public_url",
    "PICORA_TRUSTED_PROXIES": "trusted_proxies",
    "PICORA_SIGNING_KEYS": "signing_keys",
    "PICORA_SIGNED_URL_MAX_SECONDS": "signed_url_max_seconds",
    "PICORA_SIGNED_URL_WINDOW": "signed_url_window_seconds",
}


def _public_keys(r: FieldReader) -> dict[str, str]:
    value: Any = r.raw.get("jwt_public_keys")
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            r.problems.append('jwt_public_keys: expected a JSON object {"kid": "-----BEGIN PUBLIC KEY-----..."}')
            return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        r.problems.append("jwt_public_keys: expected a mapping of key id to PEM text")
        return {}
    return {str(kid): pem for kid, pem in value.items()}


def _check_jwt(r: FieldReader, settings: JwtSettings) -> None:
    algorithms = set(settings.algorithms)
    families = [name for name, members in ALGORITHM_FAMILIES.items() if algorithms <= members]
    if not algorithms or not families:
        r.problems.append(f"jwt_algorithms: must be one family of {sorted(ALGORITHM_FAMILIES)}: {sorted(algorithms)}")
        return
    if families[0] == "hmac":
        if settings.public_keys:
            r.problems.append("jwt_public_keys: not used with HMAC algorithms; set jwt_secret")
        if settings.secret is not None and len(settings.secret.encode()) < MIN_SECRET_BYTES:
            r.problems.append(f"jwt_secret: must be at least {MIN_SECRET_BYTES} bytes")
        return
    if settings.secret:
        r.problems.append("jwt_secret: not used with public-key algorithms; set jwt_public_keys")
    algorithm = get_default_algorithms()[settings.algorithms[0]]
    for kid, pem in settings.public_keys.items():
        try:
            algorithm.prepare_key(pem)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            r.problems.append(f"jwt_public_keys[{kid}]: not a usable {families[0]} public key: {exc}")


def _trusted_proxies(r: FieldReader) -> tuple[IpNetwork, ...]:
    networks = []
    for item in string_list(r, "trusted_proxies"):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            r.problems.append(f"trusted_proxies: not an IP address or CIDR network: {item!r}")
    return tuple(networks)


def read_sessions(r: FieldReader, valid_url: Callable[[str], bool]) -> SessionSettings:
    keys = string_list(r, "session_keys")
    for index, key in enumerate(keys):
        r.check(len(key.encode()) >= MIN_SECRET_BYTES, f"session_keys[{index}]: must be at least 32 bytes")
    public_url = (r.optional_text("public_url") or "").rstrip("/")
    if public_url:
        r.check(valid_url(public_url), f"public_url: not an http(s) URL: {public_url}")
    return SessionSettings(
        keys=keys,
        ttl_seconds=r.integer("session_ttl", 7 * 86400, low=60, high=366 * 86400),
        sign_ins_per_minute=r.integer("sign_in_per_minute", 10, low=1, high=100_000),
        public_url=public_url,
        trusted_proxies=_trusted_proxies(r),
    )


def read_access(r: FieldReader, valid_url: Callable[[str], bool]) -> AccessSettings:
    jwt_settings = JwtSettings(
        algorithms=string_list(r, "jwt_algorithms") or ("HS256",),
        secret=r.optional_text("jwt_secret"),
        public_keys=_public_keys(r),
        issuer=r.optional_text("jwt_issuer"),
        audience=r.optional_text("jwt_audience"),
        leeway_seconds=r.integer("jwt_leeway", 30, low=0, high=600),
        cookie_name=r.text("jwt_cookie_name", "picora_session"),
    )
    _check_jwt(r, jwt_settings)
    signing_keys = string_list(r, "signing_keys")
    for index, key in enumerate(signing_keys):
        r.check(len(key.encode()) >= MIN_SECRET_BYTES, f"signing_keys[{index}]: must be at least 32 bytes")
    max_seconds = r.integer("signed_url_max_seconds", 7 * 86400, low=60)
    return AccessSettings(
        jwt=jwt_settings,
        sessions=read_sessions(r, valid_url),
        signing_keys=signing_keys,
        signed_url_default_seconds=min(3600, max_seconds),
        signed_url_max_seconds=max_seconds,
        signed_url_window_seconds=r.integer("signed_url_window_seconds", 300, low=1, high=86400),
    )
