"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """A user acting through one credential; ``plan`` names an entry of the plan table.

    ``key_digest`` names the API key used, directly or to sign in to the session used (None for
    an externally issued session token).
    """

    user_id: str
    plan: str
    key_digest: str | None = None
