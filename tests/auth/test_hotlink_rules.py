"""Hotlink rules as pure functions: parsing and the Referer decision."""

from __future__ import annotations

import pytest

from auth.hotlink import HotlinkRules, parse_rules, referer_allowed

RULES = HotlinkRules(enabled=True, allowed_domains=("example.com", "*.example.org"), allow_empty_referer=True)


@pytest.mark.parametrize(
    ("referer", "allowed"),
    [
        ("https://example.com/page", True),
        ("http://example.com:8080/x?y", True),
        ("https://EXAMPLE.com./", True),
        ("https://www.example.com/", False),
        ("https://a.example.org/", True),
        ("https://a.b.example.org/", True),
        ("https://example.org/", False),
        ("https://example.com.evil.net/", False),
        ("https://evilexample.org/", False),
        ("https://evil.net/?ref=example.com", False),
        ("not a url", False),
        ("http://[::1", False),
        (None, True),
        ("", True),
        ("   ", True),
    ],
)
def test_referer_decision(referer: str | None, allowed: bool) -> None:
    assert referer_allowed(RULES, referer) is allowed


def test_empty_referer_can_be_refused_and_disabled_rules_allow_all() -> None:
    strict = HotlinkRules(enabled=True, allowed_domains=("example.com",), allow_empty_referer=False)
    assert referer_allowed(strict, None) is False
    assert referer_allowed(HotlinkRules(), "https://anything.example/") is True


def test_parse_normalises_domains() -> None:
    rules = parse_rules({"enabled": True, "allowedDomains": [" Example.COM. ", "*.Example.org", "example.com"]})
    assert rules.allowed_domains == ("example.com", "*.example.org")
    assert rules.allow_empty_referer is True


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"enabled": "yes"},
        {"allowEmptyReferer": 1},
        {"allowedDomains": "example.com"},
        {"allowedDomains": [1]},
        {"allowedDomains": ["http://example.com"]},
        {"allowedDomains": ["exa mple.com"]},
        {"allowedDomains": ["*"]},
        {"allowedDomains": ["a.*.com"]},
        {"allowedDomains": [f"d{i}.com" for i in range(51)]},
        {"extra": True},
    ],
)
def test_parse_refuses_bad_rules(body: object) -> None:
    with pytest.raises(ValueError, match=r".+"):
        parse_rules(body)
