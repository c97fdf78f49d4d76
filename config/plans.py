"""The plan table: built-in plans, overridden or extended by ``[plans.NAME]`` tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.reader import FieldReader

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    """What one plan allows a user: largest file, total stored bytes, API rates (token buckets)."""

    name: str
    max_file_bytes: int
    storage_bytes: int
    uploads_per_minute: int = 60
    requests_per_minute: int = 600


#: Built-in plans; a config file may override them or add more under ``[plans.NAME]``.
DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan("free", max_file_bytes=10 * MIB, storage_bytes=500 * MIB),
    "pro": Plan("pro", max_file_bytes=50 * MIB, storage_bytes=100 * 1024 * MIB),
}


def read_plans(document: Mapping[str, Any], problems: list[str]) -> dict[str, Plan]:
    plans = dict(DEFAULT_PLANS)
    tables = document.get("plans", {})
    if not isinstance(tables, Mapping):
        problems.append("plans: expected tables [plans.NAME]")
        return plans
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            problems.append(f"plans.{name}: expected a table")
            continue
        base = plans.get(name, Plan(name, DEFAULT_PLANS["free"].max_file_bytes, 0))
        reader = FieldReader(table)
        max_file = reader.integer("max_file_bytes", base.max_file_bytes, low=1)
        storage = reader.integer("storage_bytes", base.storage_bytes, low=0)
        uploads = reader.integer("uploads_per_minute", base.uploads_per_minute, low=1)
        requests = reader.integer("requests_per_minute", base.requests_per_minute, low=1)
        unknown = set(table) - {"max_file_bytes", "storage_bytes", "uploads_per_minute", "requests_per_minute"}
        problems.extend(f"plans.{name}.{p}" for p in reader.problems)
        problems.extend(f"plans.{name}.{key}: unknown setting" for key in sorted(unknown))
        plans[name] = Plan(name, max_file, storage, uploads_per_minute=uploads, requests_per_minute=requests)
    return plans
