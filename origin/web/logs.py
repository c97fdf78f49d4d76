"""Logs an operator can search: one request id through every line, JSON when asked.

The request id comes from ``X-Request-ID`` when the caller (the CDN, a load balancer) sent a sane
one, else it is made here; it is echoed in the response and attached to every log line written
while the request is handled (a context variable, so concurrent requests never mix).
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import os
import re
import sys
import time
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from multidict import istr

REQUEST_ID_HEADER = istr("X-Request-ID")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIds:
    """The caller's id when sane, else 16 hex digits: a random 64-bit start (top bit set, so the
    width never changes) plus a counter. Unique, and no syscall or formatting per request."""

    def __init__(self) -> None:
        start = (1 << 63) | (int.from_bytes(os.urandom(8)) >> 2)
        self._numbers = itertools.count(start)

    def assign(self, request: web.Request) -> str:
        given = request.headers.get(REQUEST_ID_HEADER)
        if given is None or not _SANE_ID.fullmatch(given):
            given = "%x" % next(self._numbers)  # noqa: UP031 - the fastest spelling, on the hot path
        request_id.set(given)
        return given

    def new(self) -> str:
        """A fresh id, for a request that never reached the app (its framing was broken)."""
        return "%x" % next(self._numbers)  # noqa: UP031 - the same spelling as ``assign``


def stamp_request_id(response: web.StreamResponse) -> None:
    """For a handler that prepares (streams) its own response: the id must be set before headers go."""
    response.headers.setdefault(REQUEST_ID_HEADER, request_id.get())


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class _ClientMistakeFilter(logging.Filter):
    """aiohttp logs a request it could not parse (a false Content-Length, a broken header) as an
    ERROR with a traceback, before any middleware sees it. That is the client's mistake, not the
    server's: one WARNING line with a request id, also given to that request's access-log line."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = RequestIds()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.name == "aiohttp.server" and isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            rid = self._ids.new()
            request_id.set(rid)  # the context of this request's task: its access-log line says it too
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "-"
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg = "bad request from %s (%d, the client's mistake): %s"
            record.args = (remote, exc.code, " ".join(str(exc.message).split())[:300])
            record.exc_info, record.exc_text = None, None
            record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any ``extra``."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "request_id", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(log_format: str) -> None:
    """Root logging for the process: ``json`` or ``text``, request ids on every line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ClientMistakeFilter())
    handler.addFilter(_RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class AccessLogger(AbstractAccessLogger):
    """One line per request with the fields a CDN operator filters on."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %d",
            request.method,
            request.path_qs,
            response.status,
            extra={
                "method": request.method,
                "path": request.path_qs,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": round(time * 1000, 2),
                "remote": request.remote,
                "user_agent": request.headers.get("User-Agent", ""),
                "request_id": response.headers.get(REQUEST_ID_HEADER) or request_id.get(),
            },
        )
