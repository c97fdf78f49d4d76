"""The pure CSRF checks: token comparison, derived tokens, same-origin."""

from __future__ import annotations

import pytest

from auth.csrf import derived_token, origin_of, same_origin, tokens_match, unsafe


def test_unsafe_methods_are_the_ones_that_change_state() -> None:
    assert [m for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "post") if unsafe(m)] == [
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "post",
    ]


def test_tokens_match_only_an_expected_token_exactly() -> None:
    assert tokens_match("abc", ["xyz", "abc"])
    for given in (None, "", "ab", "abcd", "ABC", " abc"):
        assert not tokens_match(given, ["abc"]), given
    assert not tokens_match("abc", [])
    assert not tokens_match("é", ["e"])


def test_derived_tokens_depend_on_key_and_session_token() -> None:
    token = derived_token("k" * 32, "header.payload.sig")
    assert token == derived_token("k" * 32, "header.payload.sig")
    assert token != derived_token("j" * 32, "header.payload.sig")
    assert token != derived_token("k" * 32, "header.payload.sih")
    assert len(token) == 43
    assert "=" not in token


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Picora.ME", "https://picora.me"),
        ("https://picora.me:443/", "https://picora.me"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:80", "http://localhost"),
        ("https://picora.me/dashboard?x=1", "https://picora.me"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("null", None),
        ("file:///etc/passwd", None),
        ("https://", None),
        ("http://host:99999", None),
        ("", None),
    ],
)
def test_origins_are_normalised(url: str, expected: str | None) -> None:
    assert origin_of(url) == expected


def test_same_origin_allows_no_header_or_an_allowed_origin_only() -> None:
    allowed = {"https://picora.me", "http://127.0.0.1:8080"}
    assert same_origin(None, allowed)
    assert same_origin("https://picora.me", allowed)
    assert same_origin("HTTPS://picora.me:443", allowed)
    assert same_origin("http://127.0.0.1:8080", allowed)
    for foreign in ("null", "", "https://evil.example", "http://picora.me", "https://picora.me.evil.example",
                    "http://127.0.0.1:8081", "https://evil.example/https://picora.me"):  # fmt: skip
        assert not same_origin(foreign, allowed), foreign
