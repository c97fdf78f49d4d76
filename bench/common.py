"""What every part of the bench shares: where things are, the loopback host, plain HTTP requests, errors."""

from __future__ import annotations

import asyncio
import http.client
import sys
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
HOST = "127.0.0.1"
MIB = 1024 * 1024


class BenchError(RuntimeError):
    """Something the benchmark needs did not work; the message says what."""


# ---------------------------------------------------------------- plain HTTP


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(port: int, path: str, headers: Mapping[str, str] | None = None, method: str = "GET") -> Reply:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(method, path, headers=dict(headers or {}))
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def healthy(port: int) -> bool:
    return fetch(port, "/healthz").status == 200


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop  # optional: a faster client for the memory phase
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
