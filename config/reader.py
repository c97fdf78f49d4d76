"""Reading typed values out of a merged mapping of raw settings, collecting every problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class FieldReader:
    """Collects values and errors from one merged mapping of raw settings."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def text(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str):
            self.problems.append(f"{key}: expected a string, got {value!r}")
            return default
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.problems.append(f"{key}: expected a string, got {value!r}")
            return None
        return value

    def integer(self, key: str, default: int, *, low: int, high: int | None = None) -> int:
        value = self.raw.get(key, default)
        try:
            number = as_int(value)
        except ValueError:
            self.problems.append(f"{key}: expected an integer, got {value!r}")
            return default
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problems.append(f"{key}: must be {bound}, got {number}")
            return default
        return number

    def seconds(self, key: str, default: float, *, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.problems.append(f"{key}: expected a number of seconds, got {value!r}")
            return default
        if not low <= number <= high:
            self.problems.append(f"{key}: must be between {low} and {high}, got {number}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        self.problems.append(f"{key}: expected on/off, got {value!r}")
        return default

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


def as_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(value)


def string_list(r: FieldReader, key: str) -> tuple[str, ...]:
    value = r.raw.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    r.problems.append(f"{key}: expected a comma-separated string or a list of strings")
    return ()
