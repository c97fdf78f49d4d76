"""HTTP-date parsing/formatting (RFC 9110 section 5.6.7)."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.http_semantics.dates import format_http_date, parse_http_date

SUNDAY_1994 = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example instant
NOW_2025 = 1748736000  # Sun, 01 Jun 2025 00:00:00 GMT, fixed clock for the rfc850 year rule


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994, id="imf-fixdate"),
        pytest.param("Sunday, 06-Nov-94 08:49:37 GMT", SUNDAY_1994, id="rfc850"),
        pytest.param("Sun Nov  6 08:49:37 1994", SUNDAY_1994, id="asctime-space-padded-day"),
        pytest.param("Sun Nov 06 08:49:37 1994", SUNDAY_1994, id="asctime-two-digit-day"),
        pytest.param("Wed Nov 16 08:49:37 1994", SUNDAY_1994 + 10 * 86400, id="asctime-day-16"),
        pytest.param(" \tSun, 06 Nov 1994 08:49:37 GMT \t", SUNDAY_1994, id="surrounding-ows-stripped"),
        pytest.param("Thu, 01 Jan 1970 00:00:00 GMT", 0, id="epoch"),
        pytest.param("Tue, 29 Feb 2000 00:00:00 GMT", 951782400, id="leap-day-400-year"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799, id="max-four-digit-year"),
        pytest.param("Sun, 06 Nov 1994 08:49:60 GMT", SUNDAY_1994 + 23, id="leap-second-folds-forward"),
        pytest.param("Mon, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994, id="wrong-weekday-not-checked"),
    ],
)
def test_parse_valid(value: str, expected: int) -> None:
    assert parse_http_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("784111777", id="epoch-number"),
        pytest.param("1994-11-06T08:49:37Z", id="iso8601"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 gmt", id="lowercase-gmt"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 UTC", id="utc-not-gmt"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 +0000", id="numeric-zone"),
        pytest.param("Sun, 06 Nov 1994 08:49:37", id="imf-missing-gmt"),
        pytest.param("sun, 06 Nov 1994 08:49:37 GMT", id="lowercase-day-name"),
        pytest.param("Sun, 06 nov 1994 08:49:37 GMT", id="lowercase-month"),
        pytest.param("Sux, 06 Nov 1994 08:49:37 GMT", id="unknown-day-name"),
        pytest.param("Sunday, 06 Nov 1994 08:49:37 GMT", id="imf-with-long-day-name"),
        pytest.param("Sun, 06-Nov-94 08:49:37 GMT", id="rfc850-with-short-day-name"),
        pytest.param("Sun, 6 Nov 1994 08:49:37 GMT", id="imf-one-digit-day"),
        pytest.param("Sun, 06 Nov 94 08:49:37 GMT", id="imf-two-digit-year"),
        pytest.param("Sun, 06 Nov 1994 8:49:37 GMT", id="one-digit-hour"),
        pytest.param("Sun,  06 Nov 1994 08:49:37 GMT", id="double-space"),
        pytest.param("Sun, 32 Nov 1994 08:49:37 GMT", id="day-32"),
        pytest.param("Sun, 00 Nov 1994 08:49:37 GMT", id="day-0"),
        pytest.param("Thu, 31 Apr 1994 08:49:37 GMT", id="april-31"),
        pytest.param("Tue, 29 Feb 1994 08:49:37 GMT", id="feb-29-non-leap-year"),
        pytest.param("Thu, 29 Feb 1900 08:49:37 GMT", id="feb-29-century-non-leap"),
        pytest.param("Sun, 06 Nov 1994 24:00:00 GMT", id="hour-24"),
        pytest.param("Sun, 06 Nov 1994 08:60:37 GMT", id="minute-60"),
        pytest.param("Sun, 06 Nov 1994 08:49:61 GMT", id="second-61"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", id="list-of-dates"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT\n", id="trailing-newline"),
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMTx", id="trailing-garbage"),
        pytest.param("Sun, \u0660\u0666 Nov 1994 08:49:37 GMT", id="arabic-indic-digits"),
        pytest.param("Sun, \uff10\uff16 Nov 1994 08:49:37 GMT", id="fullwidth-digits"),
        pytest.param("Sun Nov  6 08:49:37 1994 GMT", id="asctime-with-zone"),
        pytest.param("Sun Nov 6 08:49:37 1994", id="asctime-unpadded-day"),
        pytest.param("Sunday, 06-Nov-1994 08:49:37 GMT", id="rfc850-four-digit-year"),
    ],
)
def test_parse_invalid_returns_none(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    ("value", "expected_year"),
    [
        pytest.param("Wednesday, 01-Jan-70 00:00:00 GMT", 2070, id="70-is-45-years-ahead"),
        pytest.param("Thursday, 01-Jan-76 00:00:00 GMT", 1976, id="76-is-past"),
        pytest.param("Friday, 01-Jan-49 00:00:00 GMT", 2049, id="49-within-50-years-ahead"),
        pytest.param("Saturday, 01-Jun-75 00:00:00 GMT", 2075, id="exactly-50-years-ahead-is-future"),
        pytest.param("Sunday, 02-Jun-75 00:00:00 GMT", 1975, id="just-over-50-years-ahead-is-past"),
        pytest.param("Monday, 01-Jan-00 00:00:00 GMT", 2000, id="00-is-2000"),
        pytest.param("Wednesday, 31-Dec-99 23:59:59 GMT", 1999, id="99-is-1999"),
    ],
)
def test_rfc850_fifty_year_rule(value: str, expected_year: int) -> None:
    parsed = parse_http_date(value, now=NOW_2025)
    assert parsed is not None
    assert email.utils.formatdate(parsed, usegmt=True).split()[3] == str(expected_year)


def test_rfc850_year_rule_crosses_century() -> None:
    # In 2090, "05" is 2105 (15 years ahead) and "45" is 2045 (2145 is too far).
    now_2090 = 3786912000  # Sun, 01 Jan 2090 00:00:00 GMT
    assert parse_http_date("Thursday, 01-Jan-05 00:00:00 GMT", now=now_2090) == 4260211200
    assert parse_http_date("Sunday, 01-Jan-45 00:00:00 GMT", now=now_2090) == 2366841600


def test_rfc850_feb_29_validated_against_expanded_year() -> None:
    assert parse_http_date("Thursday, 29-Feb-24 00:00:00 GMT", now=NOW_2025) == 1709164800
    assert parse_http_date("Wednesday, 29-Feb-23 00:00:00 GMT", now=NOW_2025) is None


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        pytest.param(0, "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(SUNDAY_1994, "Sun, 06 Nov 1994 08:49:37 GMT", id="rfc-example"),
        pytest.param(951782400, "Tue, 29 Feb 2000 00:00:00 GMT", id="leap-day"),
        pytest.param(4102444799, "Thu, 31 Dec 2099 23:59:59 GMT", id="end-of-century"),
    ],
)
def test_format(epoch: int, expected: str) -> None:
    assert format_http_date(epoch) == expected


@given(st.integers(min_value=0, max_value=253402300799))
def test_format_round_trips_and_matches_stdlib(epoch: int) -> None:
    formatted = format_http_date(epoch)
    assert formatted == email.utils.formatdate(epoch, usegmt=True)
    assert parse_http_date(formatted) == epoch


@given(st.text())
def test_parse_never_raises(value: str) -> None:
    result = parse_http_date(value)
    assert result is None or isinstance(result, int)
