"""The one middleware every request passes: it gets an id, is counted and timed, and whatever a
handler raises becomes an HTTP answer (mapped in ``origin.web.error_map``).

One layer, not three: on a cache hit, which costs tens of microseconds in all, every aiohttp
middleware layer is a measurable share (bench/README.md has the figures). The media route goes
further and runs this same function without aiohttp's middleware machinery (``OwnPipelineResource``).
"""

from __future__ import annotations

import asyncio
import functools
import time

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import AbstractResource, UrlMappingMatchInfo, _Resolve

from origin.web.error_map import error_response
from origin.web.logs import REQUEST_ID_HEADER, RequestIds
from origin.web.metrics import Metrics

#: Recorded for requests whose client went away before the answer (nginx's convention).
CLIENT_CLOSED = 499


class RequestPipeline:
    """The steps every request passes, as aiohttp middleware (``middleware``) or run inline by a
    route that knows its resource (``run``, for ``OwnPipelineResource``)."""

    def __init__(self, metrics: Metrics, ids: RequestIds) -> None:
        self._metrics = metrics
        self._ids = ids
        self._tally = metrics.tally

    async def run(
        self, handler: Handler, resource: AbstractResource | None, request: web.Request
    ) -> web.StreamResponse:
        """``resource``: the route's, when known ahead (else read from the request at the end)."""
        started = time.perf_counter()
        rid = self._ids.assign(request)
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
                self._metrics.errors.labels(code).inc()
            except (asyncio.CancelledError, ConnectionError):  # the client went away
                raise
            except Exception as exc:  # every failure gets a JSON answer, never a bare 500
                response, code = error_response(request, exc)
                self._metrics.errors.labels(code).inc()
            status = response.status
            if not response.prepared:  # a streamed answer stamped its own id before its headers went
                response.headers[REQUEST_ID_HEADER] = rid
            return response
        finally:
            if resource is None:
                resource = request.match_info.route.resource
            self._tally.add(resource, request.method, status, time.perf_counter() - started)

    def middleware(self) -> Middleware:
        @web.middleware
        async def pipeline(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.run(handler, None, request)

        return pipeline


class _OwnPipelineMatchInfo(UrlMappingMatchInfo):
    """aiohttp wraps a route's handler in the middlewares of every app in ``apps``, plus a layer of
    its own per app (``_fix_request_current_app``) and a cache lookup of the wrapped chain. This
    route's handler runs the pipeline itself, so it reports no apps to wrap it; ``request.app`` and
    response-prepare signals read the app list it keeps as usual. (``request.config_dict``, which
    nothing on this route uses, needs ``apps`` and so is not available here.)"""

    __slots__ = ()

    @property
    def apps(self) -> tuple[web.Application, ...]:
        return ()


class OwnPipelineResource(web.DynamicResource):
    """A GET (and HEAD) route whose handler runs ``pipeline`` inline instead of as a middleware:
    the same request id, metrics and error map, without aiohttp's per-request middleware layers
    (~11k instructions less per 304: 225k -> 214k under callgrind). For the hottest route only."""

    def __init__(self, path: str, handler: Handler, pipeline: RequestPipeline) -> None:
        super().__init__(path)
        # Positional, with the resource known: no keyword call, no lookup of the route afterwards.
        run = functools.partial(pipeline.run, handler, self)
        self._by_method = {method: self.add_route(method, run) for method in (hdrs.METH_GET, hdrs.METH_HEAD)}
        self._methods = set(self._by_method)

    async def resolve(self, request: web.Request) -> _Resolve:
        match_dict = self._match(request.rel_url.path_safe)
        if match_dict is None:
            return None, set()
        route = self._by_method.get(request.method)
        if route is None:
            return None, self._methods
        return _OwnPipelineMatchInfo(match_dict, route), self._methods
