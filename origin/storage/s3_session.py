"""The HTTP session under the S3 client, with aiohttp's read-ahead per response kept small.

aiohttp buffers a response body until it holds twice ``read_bufsize`` before it stops reading
the socket, and one read from the socket adds up to 256 KB more (uvloop's receive buffer). Its
default ``read_bufsize`` is 256 KiB, so every streamed object held up to ~750 KiB in the origin
while its client was slower than storage (bench/ memory phase: +77 MiB with ~100 streams). Now a
stream holds about one socket read. aiobotocore has no setting for it, but aiohttp takes it per
request, so the session aiobotocore asks for is handed out with the value bound. A reader that
asks for more raises it for its response (``read()`` of a whole object reads 1 MiB at a time).

Only the user-space read-ahead shrinks: the kernel's receive buffer (the TCP window) keeps its
autotuned size, so throughput over a long round trip is the same.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession

#: Read-ahead per response: the body buffer pauses the socket above twice this, or twice the size
#: its reader asks for if that is larger (so the consumer's chunk size decides).
READ_BUFSIZE = 16 * 1024


class _BoundedReads:
    """The part of ``aiohttp.ClientSession`` that AIOHTTPSession.send uses, with ``read_bufsize`` bound."""

    __slots__ = ("_session",)

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("read_bufsize", READ_BUFSIZE)
        return self._session.request(*args, **kwargs)


class BoundedReadSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore ships no type hints
    """AioConfig's ``http_session_cls``: aiobotocore's own, with ``READ_BUFSIZE`` on every request.

    ``_get_session`` is aiobotocore's (3.x) one place that hands out the aiohttp session;
    tests/origin/storage/test_memory_footprint.py fails if an upgrade stops calling it.
    """

    async def _get_session(self, proxy_url: str | None) -> _BoundedReads:
        return _BoundedReads(await super()._get_session(proxy_url))
