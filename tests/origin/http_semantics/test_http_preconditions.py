"""Conditional requests: evaluation order of RFC 9110 section 13.2.2, and If-Range (13.1.5)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from origin.http_semantics.preconditions import Outcome, evaluate_preconditions, if_range_allows_partial

ETAG = '"abc"'
LAST_MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
AT = "Sun, 06 Nov 1994 08:49:37 GMT"  # == Last-Modified
BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT"  # one second before Last-Modified
AFTER = "Sun, 06 Nov 1994 08:49:38 GMT"  # one second after Last-Modified
BEFORE_RFC850 = "Sunday, 06-Nov-94 08:49:36 GMT"
AT_RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
BEFORE_ASCTIME = "Sun Nov  6 08:49:36 1994"
AT_ASCTIME = "Sun Nov  6 08:49:37 1994"
BAD_DATE = "yesterday"


class Case(NamedTuple):
    method: str = "GET"
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


PROCEED: Outcome = "proceed"
NOT_MODIFIED: Outcome = "not_modified"
FAILED: Outcome = "precondition_failed"

CASES = [
    pytest.param(Case(), PROCEED, id="no-preconditions"),
    # Step 1: If-Match, strong comparison (13.1.1).
    pytest.param(Case(if_match="*"), PROCEED, id="if-match-star"),
    pytest.param(Case(if_match=ETAG), PROCEED, id="if-match-strong-match"),
    pytest.param(Case(if_match='"x", "abc"'), PROCEED, id="if-match-list-contains-match"),
    pytest.param(Case(if_match='"x", "y"'), FAILED, id="if-match-list-no-match"),
    pytest.param(Case(if_match='"xyz"'), FAILED, id="if-match-mismatch"),
    pytest.param(Case(if_match='W/"abc"'), FAILED, id="if-match-weak-tag-never-matches"),
    pytest.param(Case(if_match="abc"), FAILED, id="if-match-malformed-fails"),
    pytest.param(Case(if_match=""), FAILED, id="if-match-empty-fails"),
    pytest.param(Case(method="PUT", if_match=ETAG), PROCEED, id="if-match-put-match"),
    pytest.param(Case(method="DELETE", if_match='"old"'), FAILED, id="if-match-delete-mismatch"),
    pytest.param(Case(method="HEAD", if_match='"old"'), FAILED, id="if-match-head-mismatch-is-412-not-304"),
    # Step 2: If-Unmodified-Since, only without If-Match (13.1.4).
    pytest.param(Case(if_unmodified_since=AT), PROCEED, id="ius-equal-proceeds"),
    pytest.param(Case(if_unmodified_since=AFTER), PROCEED, id="ius-after-proceeds"),
    pytest.param(Case(if_unmodified_since=BEFORE), FAILED, id="ius-before-fails"),
    pytest.param(Case(if_unmodified_since=BEFORE_RFC850), FAILED, id="ius-rfc850-before-fails"),
    pytest.param(Case(if_unmodified_since=BEFORE_ASCTIME), FAILED, id="ius-asctime-before-fails"),
    pytest.param(Case(if_unmodified_since=BAD_DATE), PROCEED, id="ius-invalid-date-ignored"),
    pytest.param(Case(if_unmodified_since=f"{BEFORE}, {AT}"), PROCEED, id="ius-list-of-dates-ignored"),
    pytest.param(Case(if_match=ETAG, if_unmodified_since=BEFORE), PROCEED, id="if-match-beats-ius"),
    pytest.param(Case(if_match='"x"', if_unmodified_since=AFTER), FAILED, id="if-match-fail-despite-ius"),
    pytest.param(Case(if_match="bad", if_unmodified_since=AFTER), FAILED, id="malformed-if-match-beats-ius"),
    # Step 3: If-None-Match, weak comparison (13.1.2).
    pytest.param(Case(if_none_match=ETAG), NOT_MODIFIED, id="inm-get-match-304"),
    pytest.param(Case(method="HEAD", if_none_match=ETAG), NOT_MODIFIED, id="inm-head-match-304"),
    pytest.param(Case(if_none_match='W/"abc"'), NOT_MODIFIED, id="inm-weak-tag-matches"),
    pytest.param(Case(if_none_match='"x", W/"abc"'), NOT_MODIFIED, id="inm-list-contains-match"),
    pytest.param(Case(if_none_match="*"), NOT_MODIFIED, id="inm-star-get-304"),
    pytest.param(Case(if_none_match='"x", "y"'), PROCEED, id="inm-no-match-proceeds"),
    pytest.param(Case(method="POST", if_none_match=ETAG), FAILED, id="inm-post-match-412"),
    pytest.param(Case(method="PUT", if_none_match="*"), FAILED, id="inm-put-star-412"),
    pytest.param(Case(method="get", if_none_match=ETAG), FAILED, id="inm-method-case-sensitive"),
    pytest.param(Case(if_none_match="abc"), PROCEED, id="inm-malformed-ignored"),
    pytest.param(Case(if_none_match=""), PROCEED, id="inm-empty-ignored"),
    # Step 4: If-Modified-Since, GET/HEAD only and only without If-None-Match (13.1.3).
    pytest.param(Case(if_modified_since=AT), NOT_MODIFIED, id="ims-equal-304"),
    pytest.param(Case(if_modified_since=AFTER), NOT_MODIFIED, id="ims-after-304"),
    pytest.param(Case(if_modified_since=BEFORE), PROCEED, id="ims-before-proceeds"),
    pytest.param(Case(method="HEAD", if_modified_since=AT), NOT_MODIFIED, id="ims-head-304"),
    pytest.param(Case(if_modified_since=AT_RFC850), NOT_MODIFIED, id="ims-rfc850-304"),
    pytest.param(Case(if_modified_since=AT_ASCTIME), NOT_MODIFIED, id="ims-asctime-304"),
    pytest.param(Case(if_modified_since=BAD_DATE), PROCEED, id="ims-invalid-date-ignored"),
    pytest.param(Case(if_modified_since=AT.lower()), PROCEED, id="ims-lowercase-date-invalid"),
    pytest.param(Case(method="POST", if_modified_since=AT), PROCEED, id="ims-ignored-for-post"),
    pytest.param(Case(method="PUT", if_modified_since=AFTER), PROCEED, id="ims-ignored-for-put"),
    pytest.param(Case(method="get", if_modified_since=AT), PROCEED, id="ims-ignored-for-lowercase-get"),
    pytest.param(Case(if_none_match='"x"', if_modified_since=AFTER), PROCEED, id="inm-no-match-beats-ims"),
    pytest.param(Case(if_none_match=ETAG, if_modified_since=BEFORE), NOT_MODIFIED, id="inm-match-beats-ims"),
    pytest.param(Case(if_none_match="bad", if_modified_since=AT), NOT_MODIFIED, id="malformed-inm-lets-ims-apply"),
    # Interactions across steps.
    pytest.param(Case(if_match='"x"', if_none_match=ETAG), FAILED, id="if-match-fail-before-inm"),
    pytest.param(Case(if_match=ETAG, if_none_match=ETAG), NOT_MODIFIED, id="if-match-pass-then-inm-304"),
    pytest.param(Case(if_match=ETAG, if_none_match='"x"'), PROCEED, id="if-match-pass-inm-no-match"),
    pytest.param(Case(if_unmodified_since=BEFORE, if_none_match=ETAG), FAILED, id="ius-fail-before-inm"),
    pytest.param(Case(if_unmodified_since=AT, if_none_match=ETAG), NOT_MODIFIED, id="ius-pass-then-inm-304"),
    pytest.param(Case(if_unmodified_since=BEFORE, if_modified_since=AT), FAILED, id="ius-fail-before-ims"),
    pytest.param(Case(if_unmodified_since=AT, if_modified_since=AT), NOT_MODIFIED, id="ius-pass-then-ims-304"),
    pytest.param(Case(method="POST", if_match=ETAG, if_none_match=ETAG), FAILED, id="post-if-match-pass-inm-match-412"),
    # Methods that do not select a representation ignore preconditions (13.2.1).
    pytest.param(Case(method="OPTIONS", if_match='"x"'), PROCEED, id="options-ignores-preconditions"),
    pytest.param(Case(method="TRACE", if_none_match="*"), PROCEED, id="trace-ignores-preconditions"),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_evaluate_preconditions(case: Case, expected: Outcome) -> None:
    outcome = evaluate_preconditions(
        case.method,
        if_match=case.if_match,
        if_none_match=case.if_none_match,
        if_modified_since=case.if_modified_since,
        if_unmodified_since=case.if_unmodified_since,
        etag=ETAG,
        last_modified=LAST_MODIFIED,
    )
    assert outcome == expected


@pytest.mark.parametrize("etag", ["abc", "", 'W/"abc', '"a b"'])
def test_malformed_current_etag_is_a_programming_error(etag: str) -> None:
    with pytest.raises(ValueError, match="entity-tag"):
        evaluate_preconditions(
            "GET",
            if_match=None,
            if_none_match=None,
            if_modified_since=None,
            if_unmodified_since=None,
            etag=etag,
            last_modified=0,
        )
    with pytest.raises(ValueError, match="entity-tag"):
        if_range_allows_partial(None, etag=etag, last_modified=0)


@pytest.mark.parametrize(
    ("if_range", "expected"),
    [
        pytest.param(None, True, id="absent"),
        pytest.param(ETAG, True, id="strong-etag-match"),
        pytest.param(f" {ETAG} ", True, id="strong-etag-match-with-ows"),
        pytest.param('"xyz"', False, id="strong-etag-mismatch"),
        pytest.param('W/"abc"', False, id="weak-etag-never-matches"),
        pytest.param('"abc', False, id="unterminated-etag"),
        pytest.param(f"{ETAG}, {ETAG}", False, id="etag-list-not-allowed"),
        pytest.param('w/"abc"', False, id="lowercase-weak-prefix-is-garbage"),
        pytest.param(AT, True, id="date-exact-match"),
        pytest.param(AT_RFC850, True, id="date-exact-match-rfc850"),
        pytest.param(AT_ASCTIME, True, id="date-exact-match-asctime"),
        pytest.param(BEFORE, False, id="date-one-second-before"),
        pytest.param(AFTER, False, id="date-one-second-after"),
        pytest.param(BAD_DATE, False, id="garbage"),
        pytest.param("Sun, 31 Feb 1994 08:49:37 GMT", False, id="invalid-date"),
        pytest.param("", False, id="empty"),
        pytest.param("*", False, id="star"),
    ],
)
def test_if_range(if_range: str | None, expected: bool) -> None:
    assert if_range_allows_partial(if_range, etag=ETAG, last_modified=LAST_MODIFIED) is expected


def test_if_range_with_weak_current_etag_never_matches() -> None:
    assert if_range_allows_partial('"abc"', etag='W/"abc"', last_modified=LAST_MODIFIED) is False
    assert if_range_allows_partial('W/"abc"', etag='W/"abc"', last_modified=LAST_MODIFIED) is False
