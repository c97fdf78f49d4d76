"""Narrowing redis-py's ``bytes | str`` results: every client here uses ``decode_responses=True``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def text_list(values: Sequence[bytes | str]) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def text_dict(values: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {text(k) or "": text(v) or "" for k, v in values.items()}
