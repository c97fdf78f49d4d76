"""The one middleware every request passes: it gets an id, is counted and timed, and whatever a
handler raises becomes an HTTP answer (mapped in ``origin.web.error_map``).

One layer, not three: on a cache hit, which costs tens of microseconds in all, every aiohttp
middleware layer is a measurable share (bench/README.md has the figures).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from origin.web.error_map import error_response
from origin.web.logs import REQUEST_ID_HEADER, RequestIds
from origin.web.metrics import Metrics

#: Recorded for requests whose client went away before the answer (nginx's convention).
CLIENT_CLOSED = 499


def request_pipeline(metrics: Metrics, ids: RequestIds) -> Middleware:
    tally = metrics.tally

    @web.middleware
    async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        rid = ids.assign(request)
        status = CLIENT_CLOSED
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:  # a redirect or 304 raised as an exception: an answer, not an error
                    exc.headers[REQUEST_ID_HEADER] = rid
                    status = exc.status
                    raise
                response, code = error_response(request, exc)
                metrics.errors.labels(code).inc()
            except (asyncio.CancelledError, ConnectionError):  # the client went away
                raise
            except Exception as exc:  # every failure gets a JSON answer, never a bare 500
                response, code = error_response(request, exc)
                metrics.errors.labels(code).inc()
            status = response.status
            if not response.prepared:  # a streamed answer stamped its own id before its headers went
                response.headers[REQUEST_ID_HEADER] = rid
            return response
        finally:
            tally.add(request.match_info.route.resource, request.method, status, time.perf_counter() - started)

    return pipeline
