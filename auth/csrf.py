"""CSRF defence for cookie sessions: pure checks, no I/O.

A browser attaches the session cookie to any request a page on another site makes, so a request
authenticated by the cookie alone proves nothing about who wrote it. An unsafe one must also
carry ``X-CSRF-Token`` equal to its session's token (a page elsewhere can neither read it nor set
custom headers without a CORS preflight the origin never grants), and an ``Origin`` header, when
present, must be the origin's own. Externally issued JWT sessions have no record to hold a token,
so theirs is derived: an HMAC of the session token under the origin's session key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def unsafe(method: str) -> bool:
    """Methods that may change state; GET, HEAD and OPTIONS never do here."""
    return method.upper() in UNSAFE_METHODS


def tokens_match(given: str | None, expected: Iterable[str]) -> bool:
    """Whether ``given`` equals one of ``expected``, each compared in constant time."""
    if not given:
        return False
    sent = given.encode()
    matched = False
    for candidate in expected:  # every candidate, always
        matched |= hmac.compare_digest(sent, candidate.encode())
    return matched


def derived_token(key: str, session_token: str) -> str:
    """The CSRF token of an external JWT session: stable for the token, unguessable without the key."""
    mac = hmac.new(key.encode(), b"csrf\n" + session_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL (its path ignored), lower-cased, default port dropped; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def same_origin(origin_header: str | None, allowed: Collection[str]) -> bool:
    """No ``Origin`` header (not every client sends one), or one naming an ``allowed`` origin.

    ``allowed`` holds normalised origins (see ``origin_of``); ``Origin: null`` is never allowed.
    """
    if origin_header is None:
        return True
    normalised = origin_of(origin_header)
    return normalised is not None and normalised in allowed
