"""Conditional request evaluation (RFC 9110 section 13) for an existing resource."""

from __future__ import annotations

from typing import Literal

from .dates import parse_http_date
from .etags import EntityTag, parse_entity_tag, parse_etag_list, strong_match, weak_match

__all__ = ["Outcome", "evaluate_preconditions", "if_range_allows_partial"]

Outcome = Literal["proceed", "not_modified", "precondition_failed"]

# Methods that only retrieve, for which a failed If-None-Match or If-Modified-Since
# means 304 rather than 412 (RFC 9110 sections 13.1.2 and 13.1.3). Methods are
# case-sensitive (RFC 9110 section 9.1), so "get" is not GET.
_SAFE_RETRIEVAL = frozenset({"GET", "HEAD"})
# Methods that do not select or modify a representation; preconditions are
# ignored for them (RFC 9110 section 13.2.1).
_NO_PRECONDITIONS = frozenset({"CONNECT", "OPTIONS", "TRACE"})


def _current_tag(etag: str) -> EntityTag:
    tag = parse_entity_tag(etag)
    if tag is None:
        raise ValueError(f"current ETag must be a quoted entity-tag, got {etag!r}")
    return tag


def evaluate_preconditions(
    method: str,
    *,
    if_match: str | None,
    if_none_match: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    etag: str,
    last_modified: int,
) -> Outcome:
    """Decide 304/412/continue for a request on an existing resource.

    Follows the precedence of RFC 9110 section 13.2.2 so that the stronger
    validator (the entity-tag) wins over dates. ``etag`` is the current ETag
    field value with quotes; ``last_modified`` is POSIX seconds. The caller
    must only call this when the response without preconditions would be 2xx
    (RFC 9110 section 13.2.1). Raises ValueError if ``etag`` is not a valid
    entity-tag (a server bug, not a client error).
    """
    current = _current_tag(etag)
    if method in _NO_PRECONDITIONS:
        return "proceed"

    # Step 1 (RFC 9110 section 13.1.1): If-Match uses the strong comparison. A
    # malformed value cannot match anything, so it fails: the client asked for
    # a guarantee we cannot confirm.
    if if_match is not None:
        tags = parse_etag_list(if_match)
        if tags is None or (tags != "*" and not any(strong_match(t, current) for t in tags)):
            return "precondition_failed"
    # Step 2 (RFC 9110 section 13.1.4): only without If-Match; an invalid date is ignored.
    elif if_unmodified_since is not None:
        date = parse_http_date(if_unmodified_since)
        if date is not None and last_modified > date:
            return "precondition_failed"

    # Step 3 (RFC 9110 section 13.1.2): If-None-Match uses the weak comparison.
    # A malformed value is ignored as if it were absent, so step 4 then applies.
    none_match = parse_etag_list(if_none_match) if if_none_match is not None else None
    if none_match is not None:
        if none_match == "*" or any(weak_match(t, current) for t in none_match):
            return "not_modified" if method in _SAFE_RETRIEVAL else "precondition_failed"
        return "proceed"

    # Step 4 (RFC 9110 section 13.1.3): only for GET/HEAD and only without a
    # (usable) If-None-Match; an invalid date is ignored.
    if method in _SAFE_RETRIEVAL and if_modified_since is not None:
        date = parse_http_date(if_modified_since)
        if date is not None and last_modified <= date:
            return "not_modified"

    return "proceed"


def if_range_allows_partial(if_range: str | None, *, etag: str, last_modified: int) -> bool:
    """Whether a Range request may be honoured given If-Range (RFC 9110 section 13.1.5).

    False means "send the full representation with 200", which is always safe.
    The caller evaluates this only for GET with a Range header, after the
    other preconditions (RFC 9110 section 13.2.2 step 5). Raises ValueError
    if ``etag`` is not a valid entity-tag, like evaluate_preconditions.
    """
    current = _current_tag(etag)
    if if_range is None:
        return True
    value = if_range.strip(" \t")
    # An entity-tag is distinguished from an HTTP-date by its first characters
    # (RFC 9110 section 13.1.5).
    if value.startswith(('"', "W/")):
        tag = parse_entity_tag(value)
        # Only a strong comparison counts, so a weak tag can never match.
        return tag is not None and strong_match(tag, current)
    # A date matches only if it exactly equals Last-Modified.
    return parse_http_date(value) == last_modified
