"""Range header evaluation (RFC 9110 sections 14.1 and 14.2)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from origin.http_semantics.ranges import ByteRange, RangeDecision, evaluate_range

SIZE = 10_000
HUGE = "9" * 5000  # longer than int()'s default 4300-digit limit


def partial(*pairs: tuple[int, int]) -> RangeDecision:
    return RangeDecision("partial", tuple(ByteRange(a, b) for a, b in pairs))


FULL = RangeDecision("full")
UNSATISFIABLE = RangeDecision("unsatisfiable")
# 21 one-byte ranges 200 bytes apart: disjoint and too far apart to coalesce.
SPREAD_21 = "bytes=" + ",".join(f"{i * 200}-{i * 200}" for i in range(21))
SPREAD_20 = "bytes=" + ",".join(f"{i * 200}-{i * 200}" for i in reversed(range(20)))
# 21 one-byte ranges 10 bytes apart: too many, but they coalesce into one.
DENSE_21 = "bytes=" + ",".join(f"{i * 10}-{i * 10}" for i in range(21))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Absent or empty: nothing to do.
        pytest.param(None, FULL, id="absent"),
        pytest.param("", FULL, id="empty"),
        pytest.param(" \t", FULL, id="only-ows"),
        # Single range forms (14.1.2).
        pytest.param("bytes=0-499", partial((0, 499)), id="first-last"),
        pytest.param("bytes=0-0", partial((0, 0)), id="first-byte"),
        pytest.param("bytes=9999-9999", partial((9999, 9999)), id="last-byte"),
        pytest.param("bytes=500-", partial((500, 9999)), id="open-ended"),
        pytest.param("bytes=9999-", partial((9999, 9999)), id="open-ended-last-byte"),
        pytest.param("bytes=0-", partial((0, 9999)), id="open-ended-whole-object-is-still-206"),
        pytest.param("bytes=-100", partial((9900, 9999)), id="suffix"),
        pytest.param("bytes=-10000", partial((0, 9999)), id="suffix-equal-to-size"),
        pytest.param("bytes=-20000", partial((0, 9999)), id="suffix-larger-than-size-is-whole"),
        pytest.param("bytes=0-20000", partial((0, 9999)), id="last-pos-clamped"),
        pytest.param("bytes=00005-0009", partial((5, 9)), id="leading-zeros"),
        # Unsatisfiable.
        pytest.param("bytes=-0", UNSATISFIABLE, id="zero-suffix"),
        pytest.param("bytes=10000-", UNSATISFIABLE, id="first-equals-size"),
        pytest.param("bytes=10000-20000", UNSATISFIABLE, id="first-beyond-size"),
        pytest.param("bytes=20000-,-0", UNSATISFIABLE, id="all-specs-unsatisfiable"),
        # Unsatisfiable specs mixed with satisfiable ones are dropped.
        pytest.param("bytes=0-1,20000-30000", partial((0, 1)), id="mixed-drops-beyond-size"),
        pytest.param("bytes=-0,5-9", partial((5, 9)), id="mixed-drops-zero-suffix"),
        pytest.param("bytes=20000-,100-199,-0,300-399", partial((100, 199), (300, 399)), id="mixed-multi"),
        # Range unit (14.1): case-insensitive; unknown units are ignored.
        pytest.param("BYTES=0-1", partial((0, 1)), id="unit-uppercase"),
        pytest.param("Bytes=0-1", partial((0, 1)), id="unit-mixed-case"),
        pytest.param("items=0-1", FULL, id="unknown-unit"),
        pytest.param("none=0-1", FULL, id="unit-none"),
        pytest.param("bytes", FULL, id="unit-without-equals"),
        pytest.param("=0-1", FULL, id="missing-unit"),
        pytest.param("bytes =0-1", FULL, id="space-before-equals"),
        pytest.param("byt es=0-1", FULL, id="space-inside-unit"),
        pytest.param("b\u00fctes=0-1", FULL, id="non-ascii-unit"),
        # Syntactically invalid: the whole header is ignored (14.2).
        pytest.param("bytes=", FULL, id="empty-range-set"),
        pytest.param("bytes=,", FULL, id="only-empty-elements"),
        pytest.param("bytes=abc", FULL, id="other-range"),
        pytest.param("bytes=-", FULL, id="lone-dash"),
        pytest.param("bytes=5-1", FULL, id="last-before-first"),
        pytest.param("bytes=0-1,5-1", FULL, id="one-invalid-spec-invalidates-all"),
        pytest.param("bytes=0-1,abc", FULL, id="one-garbage-spec-invalidates-all"),
        pytest.param("bytes=--1", FULL, id="double-dash"),
        pytest.param("bytes=1--2", FULL, id="negative-last"),
        pytest.param("bytes=-1-2", FULL, id="negative-first"),
        pytest.param("bytes=1-2-3", FULL, id="three-numbers"),
        pytest.param("bytes=+1-2", FULL, id="plus-sign"),
        pytest.param("bytes=1-+2", FULL, id="plus-sign-last"),
        pytest.param("bytes=0x1-2", FULL, id="hex"),
        pytest.param("bytes=1.5-2", FULL, id="decimal"),
        pytest.param("bytes=1_0-20", FULL, id="underscore-digit-separator"),
        pytest.param("bytes=0 -1", FULL, id="space-before-dash"),
        pytest.param("bytes=0- 1", FULL, id="space-after-dash"),
        pytest.param("bytes=0-1\x0b", FULL, id="vertical-tab"),
        pytest.param("bytes=0-1\n", FULL, id="trailing-newline"),
        pytest.param("bytes=0-1\u00a0", FULL, id="nbsp"),
        pytest.param("bytes=0-1;q=1", FULL, id="parameters"),
        pytest.param("bytes=\u0660-\u0661", FULL, id="arabic-indic-digits"),
        pytest.param("bytes=\uff10-\uff11", FULL, id="fullwidth-digits"),
        pytest.param("bytes=\u00b9-\u00b2", FULL, id="superscript-digits"),
        pytest.param("bytes==0-1", FULL, id="double-equals"),
        # OWS and empty list elements (5.6.1.2).
        pytest.param("bytes= 0-1", partial((0, 1)), id="ows-after-equals-accepted"),
        pytest.param("  bytes=0-1  ", partial((0, 1)), id="surrounding-ows"),
        pytest.param("bytes=0-1 , 3-4", partial((0, 1), (3, 4)), id="ows-around-comma"),
        pytest.param("bytes=0-1,\t3-4", partial((0, 1), (3, 4)), id="tab-after-comma"),
        pytest.param("bytes=0-1,,3-4", partial((0, 1), (3, 4)), id="empty-element"),
        pytest.param("bytes=,0-1", partial((0, 1)), id="leading-empty-element"),
        pytest.param("bytes=0-1, ,", partial((0, 1)), id="trailing-empty-elements"),
        # Huge numbers are compared exactly but never overflow or raise.
        pytest.param(f"bytes=0-{HUGE}", partial((0, 9999)), id="huge-last-clamped"),
        pytest.param(f"bytes={HUGE}-", UNSATISFIABLE, id="huge-first"),
        pytest.param(f"bytes=-{HUGE}", partial((0, 9999)), id="huge-suffix"),
        pytest.param(f"bytes={HUGE}-{HUGE}9", UNSATISFIABLE, id="huge-first-huge-last"),
        pytest.param(f"bytes={HUGE}9-{HUGE}", FULL, id="huge-last-before-huge-first"),
        pytest.param(f"bytes={HUGE}-5", FULL, id="small-last-before-huge-first"),
        pytest.param(f"bytes={'0' * 5000}7-9", partial((7, 9)), id="many-leading-zeros"),
        # Multiple disjoint ranges keep the requested order (15.3.7.2).
        pytest.param("bytes=500-599,0-99", partial((500, 599), (0, 99)), id="request-order-preserved"),
        pytest.param("bytes=0-9,10-19", partial((0, 9), (10, 19)), id="adjacent-not-coalesced-when-few"),
        pytest.param("bytes=-100,0-99", partial((9900, 9999), (0, 99)), id="suffix-and-prefix"),
        # Overlaps trigger coalescing: sorted, merging overlap and gaps < 80 bytes.
        pytest.param("bytes=0-99,50-149", partial((0, 149)), id="overlap-merged-to-single"),
        pytest.param("bytes=0-1,0-1", partial((0, 1)), id="duplicate-merged"),
        pytest.param("bytes=50-60,0-100", partial((0, 100)), id="contained-range-merged"),
        pytest.param("bytes=500-599,0-99,550-650", partial((0, 99), (500, 650)), id="overlap-coalesced-sorted"),
        pytest.param("bytes=0-9,5-7,50-59,300-310", partial((0, 59), (300, 310)), id="small-gap-merged-large-gap-kept"),
        pytest.param("bytes=0-9,0-9,90-99", partial((0, 9), (90, 99)), id="gap-of-80-not-merged"),
        pytest.param("bytes=0-9,0-9,89-99", partial((0, 99)), id="gap-of-79-merged"),
        pytest.param("bytes=0-5999,5000-", FULL, id="coalesced-to-whole-object-is-full"),
        pytest.param("bytes=-10000,0-0", FULL, id="suffix-whole-plus-overlap-is-full"),
        # Amplification guard: too many ranges.
        pytest.param(SPREAD_21, FULL, id="too-many-disjoint-ranges-full"),
        pytest.param(
            SPREAD_20, partial(*((i * 200, i * 200) for i in reversed(range(20)))), id="max-ranges-kept-in-order"
        ),
        pytest.param(DENSE_21, partial((0, 200)), id="too-many-but-coalesce-to-one"),
    ],
)
def test_evaluate_range(header: str | None, expected: RangeDecision) -> None:
    assert evaluate_range(header, SIZE) == expected


@pytest.mark.parametrize(
    ("header", "max_ranges", "expected"),
    [
        pytest.param("bytes=0-0,500-500", 2, partial((0, 0), (500, 500)), id="at-limit"),
        pytest.param("bytes=0-0,500-500,1000-1000", 2, FULL, id="over-limit-uncoalescable"),
        pytest.param("bytes=0-0,50-50,1000-1000", 2, partial((0, 50), (1000, 1000)), id="over-limit-coalesces"),
        pytest.param("bytes=0-0,500-500", 1, FULL, id="limit-one"),
    ],
)
def test_max_ranges(header: str, max_ranges: int, expected: RangeDecision) -> None:
    assert evaluate_range(header, SIZE, max_ranges=max_ranges) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("bytes=0-", UNSATISFIABLE, id="open-ended"),
        pytest.param("bytes=0-0", UNSATISFIABLE, id="first-byte"),
        pytest.param("bytes=-1", UNSATISFIABLE, id="suffix"),
        pytest.param("bytes=-0", UNSATISFIABLE, id="zero-suffix"),
        pytest.param("bytes=0-1,-5", UNSATISFIABLE, id="several"),
        pytest.param("bytes=abc", FULL, id="invalid-still-ignored"),
        pytest.param("items=0-1", FULL, id="unknown-unit-still-ignored"),
        pytest.param(None, FULL, id="absent"),
    ],
)
def test_zero_size_object(header: str | None, expected: RangeDecision) -> None:
    assert evaluate_range(header, 0) == expected


def test_one_byte_object() -> None:
    assert evaluate_range("bytes=-5", 1) == partial((0, 0))
    assert evaluate_range("bytes=0-", 1) == partial((0, 0))
    assert evaluate_range("bytes=1-", 1) == UNSATISFIABLE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"size": -1}, "size", id="negative-size"),
        pytest.param({"size": 10, "max_ranges": 0}, "max_ranges", id="zero-max-ranges"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_range("bytes=0-1", **kwargs)


def test_byte_range_helpers() -> None:
    r = ByteRange(0, 499)
    assert r.length == 500
    assert r.content_range(1234) == "bytes 0-499/1234"
    assert ByteRange(7, 7).length == 1


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4)], ids=["negative-start", "end-before-start"])
def test_byte_range_rejects_invalid(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(start, end)


def _check_decision(decision: RangeDecision, size: int, max_ranges: int) -> None:
    if decision.kind != "partial":
        assert decision.ranges == ()
        return
    assert 1 <= len(decision.ranges) <= max_ranges
    for r in decision.ranges:
        assert 0 <= r.start <= r.end <= size - 1
    ordered = sorted(decision.ranges, key=lambda r: r.start)
    assert all(a.end < b.start for a, b in pairwise(ordered)), "parts overlap"


_sizes = st.integers(min_value=0, max_value=10**12)
_max_ranges = st.integers(min_value=1, max_value=25)


@given(st.text(), _sizes, _max_ranges)
def test_arbitrary_text_never_raises_and_ranges_in_bounds(header: str, size: int, max_ranges: int) -> None:
    _check_decision(evaluate_range(header, size, max_ranges=max_ranges), size, max_ranges)


_number = st.one_of(st.integers(min_value=0, max_value=2000).map(str), st.just(HUGE), st.just(""))
_spec = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", _number, _number),
    _number.map(lambda n: f"-{n}"),
    st.sampled_from(["", " ", "abc", "--1", "0-1-2"]),
)
_header = st.builds(
    lambda unit, specs, sep: f"{unit}={sep.join(specs)}",
    st.sampled_from(["bytes", "BYTES", "items"]),
    st.lists(_spec, max_size=30),
    st.sampled_from([",", ", ", " ,"]),
)


@given(_header, st.integers(min_value=0, max_value=3000), _max_ranges)
def test_range_shaped_headers_stay_in_bounds(header: str, size: int, max_ranges: int) -> None:
    decision = evaluate_range(header, size, max_ranges=max_ranges)
    _check_decision(decision, size, max_ranges)
    if size == 0:
        assert decision.kind != "partial"


_digits = st.integers(min_value=0, max_value=10**15 - 1).map(str) | st.from_regex(r"0{1,3}[0-9]{1,5}", fullmatch=True)


@given(_digits, _digits | st.just(""), st.integers(min_value=0, max_value=3000))
def test_the_single_range_fast_path_agrees_with_the_general_parser(first: str, last: str, size: int) -> None:
    """``bytes=a-b`` takes a shortcut; leading whitespace (OWS, stripped) sends the same header the long way."""
    header = f"bytes={first}-{last}"
    assert evaluate_range(header, size) == evaluate_range(" " + header, size)
