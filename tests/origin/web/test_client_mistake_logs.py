"""A request whose framing is broken never reaches the app: aiohttp answers it. The log must call it
what it is, the client's mistake: at most one WARNING line with a request id, never an ERROR with a
traceback. Checked on the log of ``picora-origin serve``, as an operator reads it."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.processes import Server
from tests.servers import free_port


def _send(port: int, parts: list[bytes]) -> bytes:
    """Send ``parts`` on one connection, each after the answer to the one before; the last answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        answer = b""
        for part in parts:
            conn.sendall(part)
            answer = conn.recv(65536)
    return answer


@pytest.mark.parametrize(
    "parts",
    [
        # Content-Length shorter than the body: what follows is read as the next request, garbage.
        pytest.param([b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", b"cd e\r\n\r\n"], id="short"),
        pytest.param([b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"], id="not-a-number"),
        pytest.param([b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"], id="two"),
    ],
)  # fmt: skip
async def test_broken_framing_is_one_warning_line_with_a_request_id(
    tmp_path: Path, redis_url: str, redis_client: Redis, parts: list[bytes]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    env |= {"PICORA_REDIS_URL": redis_url, "PICORA_DATA_DIR": str(tmp_path / "data"), "PICORA_PORT": str(free_port())}
    server = Server(env)
    try:
        server.wait_healthy()
        answer = _send(server.port, parts)
        assert b" 400 " in answer.split(b"\r\n", 1)[0], answer
        line = server.wait_for(r"^.*bad request from.*$").group(0)
        warning = re.fullmatch(
            r"\S+ \S+ WARNING aiohttp\.server \[([0-9a-f]{16})\] bad request from 127\.0\.0\.1 \(400.*", line
        )
        assert warning is not None, line
        # The request's access-log line carries the same id, so the two are found together.
        server.wait_for(rf"INFO aiohttp\.access \[{warning.group(1)}\] .* 400$")
        output = server.output
    finally:
        assert server.stop() == 0
    assert "ERROR" not in output, output
    assert "Traceback" not in output, output
    assert len(re.findall("bad request from", output)) == 1, output
