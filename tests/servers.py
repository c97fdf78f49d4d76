"""Real servers on loopback for the suite: redis-server and moto's S3 server, on free ports."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def run_redis_server(workdir: Path) -> Iterator[str]:
    """A real ``redis-server`` (the system one; tests must not rely on the embedded one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; .ci/run installs it with apt-get")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


@contextlib.contextmanager
def run_moto_server() -> Iterator[str]:
    """moto in server mode: a real S3-compatible HTTP server, in its own process."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
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
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        raise RuntimeError("redis-server and redis-cli are required; .ci/run installs redis-server")
    ports = [cluster_port() for _ in range(masters)]
    processes = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--dir", str(node_dir), "--save", ""]  # fmt: skip
            processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        for port in ports:
            wait_for_port(port)
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
    finally:
        for process in processes:
            _stop(process)


@contextlib.contextmanager
def run_redis_sentinel(workdir: Path, master_url: str) -> Iterator[str]:
    """A real Sentinel watching the redis-server at ``master_url`` as ``mymaster``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; .ci/run installs it with apt-get")
    master_port = master_url.rsplit(":", 1)[1].split("/")[0]
    port = free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds mymaster 5000\n"
    )
    process = subprocess.Popen([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis+sentinel://127.0.0.1:{port}/mymaster"
    finally:
        _stop(process)
