"""Redis key names of users, API keys and sessions, in one place: keys and sessions both need them.

Every key naming a user carries the user id as a hash tag (``{user}``), so a user's keys and
sessions share one Cluster slot and one Lua script may touch them together (a key's revocation
ends its sessions in the same script). ``apikey:<sha256>`` has no tag: it is looked up by digest
alone, before the user is known.
"""

from __future__ import annotations

import re

#: User ids end up in Redis keys, tokens and logs: letters, digits and ``_.-`` only.
USER_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def user_key(user_id: str) -> str:
    """Hash: ``plan``, ``created``."""
    return f"user:{{{user_id}}}"


def user_keys_key(user_id: str) -> str:
    """Set: the digests of the user's live API keys."""
    return f"apikeys:{{{user_id}}}"


def key_info_key(user_id: str) -> str:
    """Hash: digest -> JSON ``{name, prefix, createdMs}`` (never the key itself)."""
    return f"apikeyinfo:{{{user_id}}}"


def key_used_key(user_id: str) -> str:
    """Hash: digest -> unix seconds of the key's last use (written at most once a minute)."""
    return f"apikeyused:{{{user_id}}}"


def digest_key(digest: str) -> str:
    """String: the user owning the key with this SHA-256 digest."""
    return f"apikey:{digest}"


def session_prefix(user_id: str) -> str:
    return f"session:{{{user_id}}}:"


def session_key(user_id: str, session_id: str) -> str:
    """Hash: ``key`` (digest signed in with), ``csrf``, ``expires``, ``created``; expires with the session."""
    return session_prefix(user_id) + session_id


def key_sessions_key(user_id: str, digest: str) -> str:
    """Set: ids of the sessions signed in with one key, so revoking the key ends them all."""
    return f"sessions:{{{user_id}}}:{digest}"
