"""Entity-tag lists and comparison (RFC 9110 sections 5.6.1, 8.8.3)."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.http_semantics.etags import (
    EntityTag,
    parse_entity_tag,
    parse_etag_list,
    strong_match,
    weak_match,
)

S = EntityTag("abc", weak=False)
W = EntityTag("abc", weak=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("*", "*", id="star"),
        pytest.param(" * ", "*", id="star-with-ows"),
        pytest.param('"abc"', [S], id="single-strong"),
        pytest.param('W/"abc"', [W], id="single-weak"),
        pytest.param('""', [EntityTag("", weak=False)], id="empty-opaque"),
        pytest.param('"a", W/"b"', [EntityTag("a", False), EntityTag("b", True)], id="list-with-ows"),
        pytest.param('"a",W/"b"', [EntityTag("a", False), EntityTag("b", True)], id="list-without-ows"),
        pytest.param('"a" ,\t"b"', [EntityTag("a", False), EntityTag("b", False)], id="ows-before-comma-and-tab"),
        pytest.param(',"a",, ,"b",', [EntityTag("a", False), EntityTag("b", False)], id="empty-elements"),
        pytest.param('"a,b", "c"', [EntityTag("a,b", False), EntityTag("c", False)], id="comma-inside-tag"),
        pytest.param('"a*b!"', [EntityTag("a*b!", False)], id="punctuation"),
        pytest.param('"caf\u00e9"', [EntityTag("caf\u00e9", False)], id="obs-text"),
    ],
)
def test_parse_list_valid(value: str, expected: list[EntityTag] | Literal["*"]) -> None:
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty-field"),
        pytest.param(" , ,", id="only-empty-elements"),
        pytest.param("abc", id="unquoted"),
        pytest.param('"abc', id="unterminated"),
        pytest.param('w/"abc"', id="lowercase-weak-prefix"),
        pytest.param('W/ "abc"', id="space-after-weak-prefix"),
        pytest.param('W"abc"', id="weak-prefix-missing-slash"),
        pytest.param('"a" "b"', id="missing-comma"),
        pytest.param('"a"b', id="garbage-after-tag"),
        pytest.param('"a b"', id="space-inside-tag"),
        pytest.param('"a\x7fb"', id="del-inside-tag"),
        pytest.param('"a\x00"', id="nul-inside-tag"),
        pytest.param('*, "a"', id="star-mixed-with-tags"),
        pytest.param("**", id="double-star"),
        pytest.param('"a"; "b"', id="semicolon-separator"),
    ],
)
def test_parse_list_malformed(value: str) -> None:
    assert parse_etag_list(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"abc"', S, id="strong"),
        pytest.param('W/"abc"', W, id="weak"),
        pytest.param(' "abc" ', S, id="ows-trimmed"),
        pytest.param('"abc", "d"', None, id="list-is-not-one-tag"),
        pytest.param('"abc"x', None, id="trailing-garbage"),
        pytest.param("abc", None, id="unquoted"),
        pytest.param("*", None, id="star"),
    ],
)
def test_parse_single(value: str, expected: EntityTag | None) -> None:
    assert parse_entity_tag(value) == expected


# The comparison table of RFC 9110 section 8.8.3.2.
@pytest.mark.parametrize(
    ("a", "b", "strong", "weak"),
    [
        pytest.param(EntityTag("1", True), EntityTag("1", True), False, True, id="weak-weak-same"),
        pytest.param(EntityTag("1", True), EntityTag("2", True), False, False, id="weak-weak-different"),
        pytest.param(EntityTag("1", True), EntityTag("1", False), False, True, id="weak-strong-same"),
        pytest.param(EntityTag("1", False), EntityTag("1", False), True, True, id="strong-strong-same"),
        pytest.param(EntityTag("1", False), EntityTag("2", False), False, False, id="strong-strong-different"),
        pytest.param(EntityTag("a", False), EntityTag("A", False), False, False, id="case-sensitive"),
    ],
)
def test_comparison(a: EntityTag, b: EntityTag, strong: bool, weak: bool) -> None:
    assert strong_match(a, b) is strong
    assert strong_match(b, a) is strong
    assert weak_match(a, b) is weak
    assert weak_match(b, a) is weak


def test_str_renders_field_syntax() -> None:
    assert str(S) == '"abc"'
    assert str(W) == 'W/"abc"'


_etagc = st.characters(min_codepoint=0x21, max_codepoint=0xFF).filter(lambda c: c not in '"\x7f')


@given(st.lists(st.builds(EntityTag, st.text(_etagc), st.booleans()), min_size=1), st.sampled_from([",", ", ", " ,\t"]))
def test_list_round_trip(tags: list[EntityTag], separator: str) -> None:
    assert parse_etag_list(separator.join(str(t) for t in tags)) == tags


@given(st.text())
def test_parse_never_raises(value: str) -> None:
    parse_etag_list(value)
    parse_entity_tag(value)
