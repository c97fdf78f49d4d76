"""Pure HTTP semantics for serving stored objects: dates, entity-tags,
conditional requests (RFC 9110 section 13) and range requests (section 14).

No I/O and no aiohttp imports, so the rules can be tested exhaustively.
"""

from .dates import format_http_date, parse_http_date
from .etags import EntityTag, parse_entity_tag, parse_etag_list, strong_match, weak_match
from .preconditions import Outcome, evaluate_preconditions, if_range_allows_partial
from .ranges import (
    ByteRange,
    MultipartLayout,
    RangeDecision,
    assemble,
    evaluate_range,
    multipart_byteranges,
    multipart_content_type,
    new_boundary,
)

__all__ = [
    "ByteRange",
    "EntityTag",
    "MultipartLayout",
    "Outcome",
    "RangeDecision",
    "assemble",
    "evaluate_preconditions",
    "evaluate_range",
    "format_http_date",
    "if_range_allows_partial",
    "multipart_byteranges",
    "multipart_content_type",
    "new_boundary",
    "parse_entity_tag",
    "parse_etag_list",
    "parse_http_date",
    "strong_match",
    "weak_match",
]
