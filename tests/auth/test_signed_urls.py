"""Signed URLs as pure functions: expiry rounding, verification, rotation, tampering."""

from __future__ import annotations

import pytest

from auth.signed_urls import Signature, check, rounded_expiry, signature

KEY, OLD = "k" * 40, "o" * 40
PATH = "/AbCdEfGhIjK.jpg"


def test_expiry_is_rounded_up_to_the_window() -> None:
    assert rounded_expiry(1000.0, 3600, 300) == 4800
    assert rounded_expiry(1001.0, 3600, 300) == 4800
    assert rounded_expiry(1200.0, 3600, 300) == 4800
    assert rounded_expiry(1201.0, 3600, 300) == 5100


def _query(key: str = KEY, path: str = PATH, exp: int = 5000) -> dict[str, str]:
    return {"exp": str(exp), "sig": signature(key, path, exp)}


@pytest.mark.parametrize(
    ("query", "keys", "now", "verdict"),
    [
        (_query(), (KEY,), 4000, Signature.VALID),
        (_query(), (KEY,), 5000, Signature.EXPIRED),
        (_query(key=OLD), (KEY, OLD), 4000, Signature.VALID),
        (_query(key=OLD), (KEY,), 4000, Signature.INVALID),
        ({**_query(), "exp": "5001"}, (KEY,), 4000, Signature.INVALID),
        (_query(path="/ZZZZZZZZZZZ.jpg"), (KEY,), 4000, Signature.INVALID),
        (_query(path="/AbCdEfGhIjK.png"), (KEY,), 4000, Signature.INVALID),
        ({**_query(), "sig": _query()["sig"][:-2] + "AA"}, (KEY,), 4000, Signature.INVALID),
        ({"exp": "5000"}, (KEY,), 4000, Signature.INVALID),
        ({"sig": "abc"}, (KEY,), 4000, Signature.INVALID),
        ({"exp": "-5", "sig": "abc"}, (KEY,), 4000, Signature.INVALID),
        ({"exp": "\u0661\u0662", "sig": "abc"}, (KEY,), 4000, Signature.INVALID),
        ({"exp": "5000", "sig": "%%%"}, (KEY,), 4000, Signature.INVALID),
        ({}, (KEY,), 4000, Signature.ABSENT),
        ({"v": "2"}, (KEY,), 4000, Signature.ABSENT),
    ],
)
def test_check(query: dict[str, str], keys: tuple[str, ...], now: float, verdict: Signature) -> None:
    assert check(PATH, query, keys, now) is verdict
