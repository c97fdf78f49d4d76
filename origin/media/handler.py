"""``GET|HEAD /{id}.{ext}``: the hot path. Flows one way:

parse -> metadata (memo, then Redis) -> access decision -> preconditions (RFC 9110 section 13.2.2)
-> If-Range and Range (section 14) -> body (cache, then single-flight, then storage) -> response.

Preconditions are answered from metadata alone; the body is only touched for a 200 or 206.
``?w=N`` (a variant) branches off after the access decision and follows the same steps with the
variant's entry and body (``_serve_variant``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import replace

from aiohttp import hdrs, web

from origin.app_keys import BODIES, CATALOG, HOTLINK, SETTINGS, VARIANTS
from origin.errors import ObjectMissing, StorageError, Unauthorized
from origin.http_semantics import (
    ByteRange,
    assemble,
    evaluate_preconditions,
    evaluate_range,
    if_range_allows_partial,
    multipart_byteranges,
    multipart_content_type,
    new_boundary,
)
from origin.images.ids import MEDIA_ROUTE
from origin.images.intake.formats import BY_EXT
from origin.images.metadata import ImageRecord
from origin.media.access import OWNER, PROTECTED, PUBLIC, Grant, grant_access, grant_at_once, not_found
from origin.media.bodies import BodySource
from origin.media.catalog import MediaCatalog, MediaEntry, entry_with_headers, media_entry
from origin.media.hotlink_memo import HotlinkRulesCache
from origin.media.responses import EntryResponse
from origin.variants.store import variant_etag, variant_record
from origin.variants.widths import requested_width
from origin.web.envelope import error
from origin.web.logs import stamp_request_id
from origin.web.pipeline import OwnPipelineResource, RequestPipeline

log = logging.getLogger(__name__)


def _granted(entry: MediaEntry, grant: Grant) -> MediaEntry:
    """The entry with the grant's caching headers (the plain public case costs nothing). Under the
    fixed grants (protected, owner) it is built once per entry: ~41k instructions less per
    hotlink-protected 304 (262k -> 221k, callgrind, bench/run.py --instructions' method)."""
    if grant is PUBLIC:
        return entry
    known = entry.by_grant.get(grant)
    if known is not None:
        return known
    headers = dict(entry.headers)
    if grant.cache_control is not None:
        headers["Cache-Control"] = grant.cache_control
    if grant.vary is not None:
        headers["Vary"] = grant.vary
    granted = entry_with_headers(entry.record, headers)
    if grant is PROTECTED or grant is OWNER:  # signed grants carry the time left: never the same twice
        entry.by_grant[grant] = granted
    return granted


def _preconditions(request: web.Request, entry: MediaEntry) -> web.StreamResponse | None:
    headers = request.headers
    if_none_match = headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match is None and hdrs.IF_MODIFIED_SINCE not in headers:
        if hdrs.IF_MATCH not in headers and hdrs.IF_UNMODIFIED_SINCE not in headers:
            return None
    elif (
        if_none_match == entry.record.etag and hdrs.IF_MATCH not in headers and hdrs.IF_UNMODIFIED_SINCE not in headers
    ):
        # The CDN's usual revalidation, decided without parsing (steps 1-2 absent, step 3 matches):
        # ~38k instructions less per 304 (222.2k -> 184.2k, bench/run.py --instructions, one connection).
        return EntryResponse(304, entry.not_modified_block)  # the headers RFC 9110 15.4.5 asks it to repeat
    outcome = evaluate_preconditions(
        request.method,
        if_match=headers.get(hdrs.IF_MATCH),
        if_none_match=headers.get(hdrs.IF_NONE_MATCH),
        if_modified_since=headers.get(hdrs.IF_MODIFIED_SINCE),
        if_unmodified_since=headers.get(hdrs.IF_UNMODIFIED_SINCE),
        etag=entry.record.etag,
        last_modified=entry.last_modified,
    )
    if outcome == "not_modified":
        return EntryResponse(304, entry.not_modified_block)
    if outcome == "precondition_failed":
        return error(
            412, "PRECONDITION_FAILED", "a precondition of the request failed", headers={"ETag": entry.record.etag}
        )
    return None


#: ``evaluate_range`` is pure, and clients repeat the same few Range headers (a player's or a
#: CDN's chunk size): a repeat costs a lookup instead of evaluate_range's ~19k instructions (1 KB
#: range of a cached image: 261k -> 242k, callgrind). Long headers (many ranges) are evaluated
#: each time, so the memo stays small whatever clients send.
_evaluate_range = functools.lru_cache(maxsize=4096)(evaluate_range)
_MEMOISED_RANGE_LENGTH = 64


def _ranges(request: web.Request, entry: MediaEntry) -> tuple[ByteRange, ...] | web.Response | None:
    """The ranges to send, a 416, or None for the whole body. Range applies to GET only (14.2)."""
    header = request.headers.get(hdrs.RANGE)
    if header is None or request.method != hdrs.METH_GET:
        return None
    record = entry.record
    if_range = request.headers.get(hdrs.IF_RANGE)
    if if_range is not None and not if_range_allows_partial(
        if_range, etag=record.etag, last_modified=entry.last_modified
    ):
        return None
    if len(header) <= _MEMOISED_RANGE_LENGTH:
        decision = _evaluate_range(header, record.size)
    else:
        decision = evaluate_range(header, record.size)
    if decision.kind == "unsatisfiable":
        return error(
            416, "RANGE_NOT_SATISFIABLE", "none of the requested ranges overlap the image",
            headers={"Content-Range": f"bytes */{record.size}", "Accept-Ranges": "bytes"},
        )  # fmt: skip
    return decision.ranges if decision.kind == "partial" else None


def _before_body(request: web.Request, entry: MediaEntry) -> web.StreamResponse | tuple[ByteRange, ...] | None:
    """The steps every answer takes before its body, in RFC 9110's order: preconditions (304,
    412), HEAD (headers only), then Range (416). A response: send it as it is. Otherwise the
    ranges to send, or None for the whole body."""
    early = _preconditions(request, entry)
    if early is not None:
        return early
    if request.method == hdrs.METH_HEAD:
        return _whole(entry)
    return _ranges(request, entry)


def _whole(entry: MediaEntry) -> EntryResponse:
    """A 200 of the whole image, not yet prepared: HEAD sends it as it is, with the Content-Length
    of a GET; a GET writes the body after it."""
    return EntryResponse(200, entry.block, content_type=entry.record.content_type, length=entry.record.size)


def _from_memory(entry: MediaEntry, body: bytes, ranges: Sequence[ByteRange] | None) -> EntryResponse:
    record = entry.record
    if not ranges:
        return EntryResponse(200, entry.block, content_type=record.content_type, body=body)
    if len(ranges) == 1:
        first = ranges[0]
        response = EntryResponse(
            206, entry.block, content_type=record.content_type, body=body[first.start : first.end + 1]
        )
        response.headers[hdrs.CONTENT_RANGE] = first.content_range(record.size)
        return response
    boundary = new_boundary()
    layout = multipart_byteranges(ranges, size=record.size, content_type=record.content_type, boundary=boundary)
    return EntryResponse(206, entry.block, content_type=multipart_content_type(boundary), body=assemble(layout, body))


async def _stream(request: web.Request, entry: MediaEntry, ranges: Sequence[ByteRange] | None) -> web.StreamResponse:
    """Large objects: fetched from storage as the ranges asked for, memory bounded per connection."""
    record, bodies = entry.record, request.app[BODIES]
    if not ranges:
        response = _whole(entry)
        plan: list[tuple[bytes, ByteRange]] = [(b"", ByteRange(0, record.size - 1))]
        epilogue = b""
    elif len(ranges) == 1:
        response = EntryResponse(206, entry.block, content_type=record.content_type, length=ranges[0].length)
        response.headers[hdrs.CONTENT_RANGE] = ranges[0].content_range(record.size)
        plan, epilogue = [(b"", ranges[0])], b""
    else:
        boundary = new_boundary()
        layout = multipart_byteranges(ranges, size=record.size, content_type=record.content_type, boundary=boundary)
        response = EntryResponse(
            206, entry.block, content_type=multipart_content_type(boundary), length=layout.content_length
        )
        plan, epilogue = list(layout.parts), layout.epilogue
    # Open storage and take the first chunk before any header goes out: a store that is down or
    # an object that is missing is then a plain 503, as for cached objects, not a cut 200.
    first_part = plan[0][1]
    chunks = bodies.stream(record, first_part.start, first_part.end)
    try:
        # In a list the writer empties: nothing keeps the chunk alive once it is written.
        first_chunk = [await anext(chunks)]
    except StopAsyncIteration as exc:
        raise StorageError(f"{record.object_key} is empty in storage") from exc
    except BaseException:
        await chunks.aclose()
        raise
    try:
        stamp_request_id(response)
        await response.prepare(request)
        await _write_parts(response, bodies, record, plan, first=(first_chunk, chunks))
        if epilogue:
            await response.write(epilogue)
        await response.write_eof()
    except StorageError as exc:
        # Headers are gone: the only honest signal left is to cut the connection short.
        log.warning("storage read of %s broke mid-body: %s", record.object_key, exc)
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:  # reset, or lost while waiting to write more
        log.debug("client went away during %s", record.object_key)
    finally:
        await chunks.aclose()
    return response


async def _write_parts(
    response: web.StreamResponse,
    bodies: BodySource,
    record: ImageRecord,
    plan: Sequence[tuple[bytes, ByteRange]],
    *,
    first: tuple[list[bytes], AsyncGenerator[bytes, None]],
) -> None:
    """Write every part; the first part's stream is already open with its first chunk read
    (handed over in a list, which this empties)."""
    for index, (preamble, part) in enumerate(plan):
        if preamble:
            await response.write(preamble)
        if index == 0:
            pending, chunks = first
            await response.write(pending.pop())
            async for chunk in chunks:
                await response.write(chunk)
            continue
        # aclosing: a client that goes away closes the storage stream (and its connection) at once.
        async with contextlib.aclosing(bodies.stream(record, part.start, part.end)) as more:
            async for chunk in more:
                await response.write(chunk)


class MediaRoute:
    """``GET|HEAD /{id}.{ext}``. The memo, rules and bodies it reads on every request are bound once
    the app has started (``bind``), so the route names what it depends on. It is kept for that,
    not for speed: it saves ~1.3k instructions per 304 over ``request.app`` lookups (bench/run.py
    --instructions, one connection), under 1%."""

    catalog: MediaCatalog
    hotlink: HotlinkRulesCache
    bodies: BodySource

    async def bind(self, app: web.Application) -> None:
        """An ``on_startup`` hook, after the cleanup contexts that make these."""
        self.catalog, self.hotlink, self.bodies = app[CATALOG], app[HOTLINK], app[BODIES]

    async def serve(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        image_id, ext = info["image_id"], info["ext"]
        if ext not in BY_EXT:
            raise not_found()
        width = requested_width(request.query)
        entry = await self.catalog.entry(image_id)
        if entry is None:
            raise not_found()
        record = entry.record
        if record.ext != ext:
            # A signed URL moved to another extension is a tampered signed URL, not a missing image.
            if "sig" in request.query and not record.is_public:
                raise Unauthorized("this signed URL is not valid", code="INVALID_SIGNATURE")
            raise not_found()
        if width is not None and record.ext == "svg":
            width = None  # an SVG scales itself: every width serves it
        # Memoised rules decide without a coroutine: ~14k instructions less per protected 304 (235k -> 221k).
        grant = grant_at_once(self.hotlink, request, record)
        if grant is None:
            grant = await grant_access(request, record)
        if width is not None:
            return await _serve_variant(request, entry, grant, width)
        if grant is not PUBLIC:
            entry = _granted(entry, grant)
        ranges = _before_body(request, entry)
        if isinstance(ranges, web.StreamResponse):
            return ranges
        bodies = self.bodies
        if bodies.cacheable(record):
            body = bodies.cached(record)
            if body is None:
                body = await bodies.load(record)
            return _from_memory(entry, body, ranges)
        return await _stream(request, entry, ranges)


async def _serve_variant(request: web.Request, entry: MediaEntry, grant: Grant, width: int) -> web.StreamResponse:
    """``?w=width``, access already granted: as an original, from the variant's entry and body.
    A conditional request the variant's ETag answers needs neither its object nor a render."""
    catalog, bodies = request.app[CATALOG], request.app[BODIES]
    variant = catalog.variant(entry, width)
    body = None if variant is None else bodies.cached(variant.record)
    if variant is None:
        settings = request.app[SETTINGS]
        validators = media_entry(replace(entry.record, etag=variant_etag(entry.record, width)), settings)
        early = _preconditions(request, _granted(validators, grant))
        if early is not None:
            return early
    if variant is None or body is None:
        variant, body = await _variant_body(request.app, entry, variant, width)
    else:
        request.app[VARIANTS].memory_hits += 1
    granted = _granted(variant, grant)
    ranges = _before_body(request, granted)
    if isinstance(ranges, web.StreamResponse):
        return ranges
    return _from_memory(granted, body, ranges)


async def _variant_body(
    app: web.Application, entry: MediaEntry, known: MediaEntry | None, width: int
) -> tuple[MediaEntry, bytes]:
    """The variant's entry and bytes: its known object (read once for concurrent misses), else
    found or rendered by the variant store, then remembered here."""
    catalog, bodies = app[CATALOG], app[BODIES]
    if known is not None:
        try:
            return known, await bodies.load(known.record)
        except ObjectMissing:
            catalog.forget_variants(entry.record.id)
    found = await app[VARIANTS].fetch(entry.record, width)
    variant = media_entry(variant_record(entry.record, found, width), app[SETTINGS])
    catalog.keep_variant(entry, width, variant)
    bodies.keep(variant.record, found.data)
    return variant, found.data


def add_routes(app: web.Application, pipeline: RequestPipeline) -> None:
    route = MediaRoute()
    app.on_startup.append(route.bind)
    app.router.register_resource(OwnPipelineResource(MEDIA_ROUTE, route.serve, pipeline))
