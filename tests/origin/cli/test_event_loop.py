"""The serving process's event loop, and what it changes in how aiohttp writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import uvloop
from aiohttp import http_writer

from origin.cli.main import _event_loop


@pytest.fixture
def skip_writelines_restored() -> Iterator[None]:
    before = http_writer.SKIP_WRITELINES
    try:
        yield
    finally:
        http_writer.SKIP_WRITELINES = before


def test_serving_on_uvloop_sends_head_and_body_without_joining_them(skip_writelines_restored: None) -> None:
    """aiohttp's switch still exists under this name (an upgrade that renames it would make the
    assignment a no-op), and choosing uvloop turns the join off."""
    assert hasattr(http_writer, "SKIP_WRITELINES")
    http_writer.SKIP_WRITELINES = True
    loop = _event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert http_writer.SKIP_WRITELINES is False
    finally:
        loop.close()
