"""``?w=``: the five widths, and a plain-text 400 naming them for anything else."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from origin.errors import InvalidWidth
from origin.variants.widths import VARIANT_WIDTHS, requested_width


@pytest.mark.parametrize("width", VARIANT_WIDTHS)
def test_allowed_widths(width: int) -> None:
    assert requested_width(MultiDict([("w", str(width)), ("v", "2")])) == width


def test_no_width_is_the_original() -> None:
    assert requested_width(MultiDict([("v", "2"), ("W", "320")])) is None


@pytest.mark.parametrize(
    "values",
    [["0"], ["-1"], ["abc"], [""], ["321"], ["0320"], ["+320"], ["320.0"], [" 320"], ["9" * 400], ["320", "640"],
     ["320", "320"], ["\uff11\uff16\uff10"]],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_widths(values: list[str]) -> None:
    with pytest.raises(InvalidWidth) as caught:
        requested_width(MultiDict([("w", value) for value in values]))
    assert caught.value.status == 400
    assert caught.value.plain_text
    assert "160, 320, 640, 1280, 1920" in caught.value.message
