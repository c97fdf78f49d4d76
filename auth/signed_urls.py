"""Signed media URLs: ``/<id>.<ext>?exp=<unix>&sig=<HMAC-SHA256 over path and expiry>``.

Keys come as a list for rotation: the first signs, every one verifies, each compared in constant
time. Expiries are rounded up to a window so an image signed several times within the window gets
the same URL, which a CDN can then cache (for no longer than the URL stays valid).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence


class Signature(enum.Enum):
    ABSENT = "absent"
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


def _mac(key: str, path: str, expires: int) -> bytes:
    return hmac.new(key.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).digest()


def signature(key: str, path: str, expires: int) -> str:
    return base64.urlsafe_b64encode(_mac(key, path, expires)).decode().rstrip("=")


def rounded_expiry(now: float, expires_in: int, window: int) -> int:
    return math.ceil((now + expires_in) / window) * window


def signed_query(key: str, path: str, expires: int) -> str:
    return f"exp={expires}&sig={signature(key, path, expires)}"


def check(path: str, query: Mapping[str, str], keys: Sequence[str], now: float) -> Signature:
    """Whether ``query`` carries a valid signature for ``path`` at time ``now``."""
    exp, sig = query.get("exp"), query.get("sig")
    if exp is None and sig is None:
        return Signature.ABSENT
    if not exp or not sig or not (exp.isascii() and exp.isdigit()) or len(exp) > 12:
        return Signature.INVALID
    try:
        given = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except ValueError:
        return Signature.INVALID
    expires = int(exp)
    matched = False
    for key in keys:  # every key, always: timing does not tell which key (if any) matched
        matched |= hmac.compare_digest(given, _mac(key, path, expires))
    if not matched:
        return Signature.INVALID
    return Signature.VALID if now < expires else Signature.EXPIRED
