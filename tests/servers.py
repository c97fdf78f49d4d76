"""Real servers on loopback for the suite, on free ports: redis-server (``RedisServer``; also as a
Cluster and a Sentinel) and moto's S3 server."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until something listens on ``port``; fails at once if ``process`` (the one to listen) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening on {port}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """A real ``redis-server`` (the system one; tests must not rely on the embedded one) on a port
    fixed when it is made, so it can be SIGKILLed and started again at the same address.

    Every redis-server of the suite is one of these: the session's, a fault test's own, each node
    of a cluster, a Sentinel. ``durable``: an append-only file fsynced on every write, so what it
    acknowledged survives SIGKILL (else nothing is persisted). ``config`` and ``args``: a config
    file to start from and more options (Sentinel's monitor lines, cluster mode).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        durable: bool = False,
        config: Path | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.durable = durable
        self.config = config
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers PING (after loading its append-only file, if any)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; .ci/run installs it with apt-get")
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, *([str(self.config)] if self.config else []), *self.args, "--port", str(self.port),
             "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, process=self.process)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last save; only what was fsynced survives."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _stop(self.process)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_moto_server(*, unchecked_requests: int | None = None) -> Iterator[str]:
    """moto in server mode: a real S3-compatible HTTP server, in its own process.

    ``unchecked_requests``: moto checks every request's signature (and IAM permissions) after this
    many (``INITIAL_NO_AUTH_ACTION_COUNT``; enough to create an IAM user and its key); unset, it never does.
    """
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    if unchecked_requests is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(unchecked_requests)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


def cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free and valid too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 50000)
        try:
            with socket.socket() as first, socket.socket() as bus:
                first.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


@contextlib.contextmanager
def run_redis_cluster(workdir: Path, masters: int = 3) -> Iterator[str]:
    """A real Redis Cluster of ``masters`` redis-server processes, joined with ``redis-cli --cluster``."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli is required; .ci/run installs it with redis-server")
    ports = [cluster_port() for _ in range(masters)]
    with contextlib.ExitStack() as nodes:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            nodes.enter_context(RedisServer(node_dir, port=port, args=args))
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        client = redis.Redis(port=ports[0], decode_responses=True)
        deadline = time.monotonic() + 30
        while client.cluster("INFO").get("cluster_state") != "ok":
            if time.monotonic() > deadline:
                raise RuntimeError("cluster never reached cluster_state:ok")
            time.sleep(0.1)
        client.close()
        yield f"redis+cluster://{','.join(f'127.0.0.1:{port}' for port in ports)}"


@contextlib.contextmanager
def run_redis_sentinel(workdir: Path, master_url: str) -> Iterator[str]:
    """A real Sentinel watching the redis-server at ``master_url`` as ``mymaster``."""
    master_port = master_url.rsplit(":", 1)[1].split("/")[0]
    config = workdir / "sentinel.conf"  # Sentinel rewrites its config file: it must be its own
    config.write_text(
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\nsentinel down-after-milliseconds mymaster 5000\n"
    )
    with RedisServer(workdir, config=config, args=["--sentinel"]) as sentinel:
        yield f"redis+sentinel://127.0.0.1:{sentinel.port}/mymaster"
