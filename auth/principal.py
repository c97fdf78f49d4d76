"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """A user acting through one credential; ``plan`` names an entry of the plan table."""

    user_id: str
    plan: str
