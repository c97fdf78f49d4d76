"""A TCP proxy on loopback that injects network faults between the origin and a real upstream.

It sits in front of a real server (redis-server, moto's S3 server) and runs in the test's own
event loop: start it, point the origin at ``proxy.port``, switch modes while requests are in flight::

    async with FaultProxy("127.0.0.1", upstream_port) as proxy:
        settings = with_overrides(settings, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
        ...
        await proxy.blackhole()
        ...
        await proxy.forward()

Modes (each method switches at once, for open connections too):

``forward()`` — "pass"
    Bytes are copied both ways unchanged.
``down()``
    The listening socket is closed, so a connect is *refused* (ECONNREFUSED), exactly as if nothing
    listened on the port; open connections are aborted with RST. Any other mode listens again on
    the same port.
``blackhole()``
    Connects still succeed (the listener stays open), but nothing gets through in either direction:
    what either side sends is read and discarded and nobody ever gets an answer. Open connections
    hang the same way. (A real blackhole also drops the SYN, so a connect times out instead of
    hanging after the handshake; a client with timeouts ends up in the same place.) When the
    blackhole ends, every connection that lost bytes to it (and every connection accepted during
    it, which has no upstream) is aborted with RST, because its byte stream now has a hole in it;
    connections that stayed idle simply resume.
``reset()``
    Open connections are aborted with RST, and so is every new one as soon as it is accepted.
``delay(seconds)``
    Each chunk, in either direction, is held ``seconds`` before it is forwarded (order is kept; a
    chunk already held when the mode changes is still forwarded after its delay).
``cut_after(n_bytes)``
    Each connection forwards at most ``n_bytes`` more bytes upstream->client (counted from the
    switch, or from the accept for newer connections), then both of its sides are aborted with RST.
    Client->upstream traffic is forwarded normally.

An end of stream from either side closes the whole connection (no half-close): enough for Redis
and HTTP/1.1. An upstream that refuses the proxy's connect gets the client aborted with RST.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Literal

Mode = Literal["pass", "down", "blackhole", "reset", "delay", "cut"]

_CHUNK = 64 * 1024
#: SO_LINGER on, timeout 0: close() sends RST instead of FIN.
_LINGER_RST = struct.pack("ii", 1, 0)


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST, dropping whatever is still buffered."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.transport.abort()


class _Link:
    """One proxied connection: the client's socket and, unless accepted blackholed, the upstream's."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter | None) -> None:
        self.client = client
        self.upstream = upstream
        #: Bytes upstream->client still allowed before the cut (None: no cut).
        self.budget: int | None = None
        #: Bytes were discarded by a blackhole: the stream is broken for good.
        self.lossy = upstream is None
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = False

    def _finish(self) -> None:
        self.done = True
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    def abort(self) -> None:
        if not self.done:
            _abort(self.client)
            _abort(self.upstream)
            self._finish()

    def close(self) -> None:
        if not self.done:
            self.client.close()
            if self.upstream is not None:
                self.upstream.close()
            self._finish()


class FaultProxy:
    """A TCP proxy from ``host:port`` (a free port, chosen at start) to ``upstream_host:upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self.port = 0
        self.mode: Mode = "pass"
        #: Connections accepted so far, whatever became of them.
        self.accepted = 0
        self._delay = 0.0
        self._cut = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.mode = "pass"
        await self._listen()

    async def stop(self) -> None:
        await self.down()  # refuse new connections, abort open ones: every handler then ends
        pending: set[asyncio.Task[None]] = set()
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=1.0)
        for handler in pending:
            handler.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- modes -----------------------------------------------------------------------------

    async def forward(self) -> None:
        await self._switch("pass")

    async def down(self) -> None:
        await self._switch("down")

    async def blackhole(self) -> None:
        await self._switch("blackhole")

    async def reset(self) -> None:
        await self._switch("reset")

    async def delay(self, seconds: float) -> None:
        self._delay = seconds
        await self._switch("delay")

    async def cut_after(self, n_bytes: int) -> None:
        self._cut = n_bytes
        await self._switch("cut")

    async def _switch(self, mode: Mode) -> None:
        self.mode = mode
        for link in list(self._links):
            if mode in ("down", "reset") or (mode != "blackhole" and link.lossy):
                link.abort()
            else:
                link.budget = self._cut if mode == "cut" else None
        if mode == "down":
            if self._server is not None:
                self._server.close()  # closes the listening socket now: connects are refused
                self._server = None
        elif self._server is None:
            await self._listen()

    # --- plumbing --------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        if not self.port:
            self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only ``stop`` cancels handlers. asyncio's streams look at a handler task's outcome
            # and would log a cancelled one as an error, so end normally.
            _abort(writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode in ("down", "reset"):
            _abort(writer)
            return
        if self.mode == "blackhole":
            await self._run(_Link(writer, None), [(reader, None, False)])
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            _abort(writer)
            return
        link = _Link(writer, up_writer)
        if self.mode in ("down", "reset"):  # switched while we were connecting
            link.abort()
            return
        if self.mode == "cut":
            link.budget = self._cut
        await self._run(link, [(reader, up_writer, False), (up_reader, writer, True)])

    async def _run(
        self, link: _Link, directions: list[tuple[asyncio.StreamReader, asyncio.StreamWriter | None, bool]]
    ) -> None:
        self._links.add(link)
        try:
            link.tasks = {asyncio.create_task(self._pump(link, *direction)) for direction in directions}
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            link.abort()  # only if still open: cancelled, or a pump died unexpectedly
            self._links.discard(link)

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, downstream: bool
    ) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                if writer is None or self.mode == "blackhole":
                    link.lossy = True
                    continue
                if self.mode == "delay":
                    await asyncio.sleep(self._delay)
                if downstream and link.budget is not None:
                    if len(chunk) >= link.budget:
                        writer.write(chunk[: link.budget])
                        await _flush(writer)  # RST would drop what asyncio still buffers
                        link.abort()
                        return
                    link.budget -= len(chunk)
                writer.write(chunk)
                await writer.drain()
        except OSError:  # one side reset or broke: pass the failure on to the other
            link.abort()
            return
        link.close()


async def _flush(writer: asyncio.StreamWriter) -> None:
    """Wait (at most a second) until asyncio has handed everything written to the kernel."""
    writer.transport.set_write_buffer_limits(high=0)
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(1.0):
            await writer.drain()
