"""Webhook signatures: ``X-Picora-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``.

Secrets come as a list for rotation; every ``v1`` is compared with every secret in constant time.
A timestamp outside the replay window (older, or in the future) is refused even when the MAC is
right, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "X-Picora-Signature"


class InvalidSignature(Exception):
    """Missing, malformed, stale or wrong."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(header: str | None, body: bytes, secrets: Sequence[str], *, now: float, window: int) -> None:
    """Return when ``header`` proves ``body`` came from a holder of one of ``secrets``, recently."""
    if not secrets:
        raise InvalidSignature("purge webhooks are not configured")
    if not header:
        raise InvalidSignature(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature(f"{HEADER} must be 't=<unix seconds>,v1=<hex hmac>'")
    if abs(now - timestamp) > window:
        raise InvalidSignature("signature timestamp outside the replay window")
    matched = False
    for secret in secrets:
        expected = _mac(secret, timestamp, body)
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("signature does not match")
