"""The servers a run starts on 127.0.0.1: redis-server, moto's S3 server, origin instances, nginx and bare aiohttp.

Each runs in its own process group (``Processes``) and is killed group-wise on the way out.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from common import BENCH_DIR, HOST, MIB, ROOT, VENV_BIN, BenchError, fetch, healthy

BUCKET = "picora-bench"
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Raises the `free` plan so the 20 MB image can be uploaded.
CONFIG_TOML = "[plans.free]\nmax_file_bytes = 67108864\nstorage_bytes = 10737418240\n"

#: The one domain the hotlink-protected image may be embedded on (origin rules, nginx, bare aiohttp).
HOTLINK_DOMAIN = "allowed.example"
#: An origin on which every request misses: no body cache, no metadata memo.
COLD_ENV = {"PICORA_CACHE_BYTES": "0", "PICORA_METADATA_TTL": "0"}

#: moto's server listens with werkzeug's backlog of 128: the memory phase's 200 streams open 200
#: connections to it at once, and the SYNs it dropped (retried after 1 s, 3 s) counted as the
#: origin's listen-queue overflows and pushed first bytes past the origin's 6 s limit.
MOTO_BACKLOG = 1024
MOTO_MAIN = (
    "import sys, werkzeug.serving; werkzeug.serving.BaseWSGIServer.request_queue_size = int(sys.argv.pop(1)); "
    "from moto.server import main; main()"
)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Processes:
    """Child processes, each in its own session (process group), killed group-wise in reverse order."""

    def __init__(self, log_dir: Path, pin: str | None) -> None:
        self.log_dir = log_dir
        self.pin = pin
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, *, pinned: bool = False
    ) -> subprocess.Popen[bytes]:
        command = list(argv)
        if pinned and self.pin is not None:
            command = ["taskset", "-c", self.pin, *command]
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None, cwd=ROOT, start_new_session=True,
            )  # fmt: skip
        self.running.append((name, process))
        return process

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
        # Whatever is left in the group (the leader or anything it forked) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process)


def wait_until(check: Callable[[], bool], what: str, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BenchError(f"{what}: process exited with status {process.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if check():
                return
        time.sleep(0.05)
    raise BenchError(f"{what}: not ready after {timeout:.0f}s")


# ---------------------------------------------------------------- the servers


@dataclass
class Origin:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    cache_bytes: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Stack:
    """Everything started for the run, and where it lives."""

    procs: Processes
    tmp: Path
    redis_port: int = 0
    moto_port: int = 0
    nginx_port: int = 0
    nginx_root: Path = field(default_factory=Path)
    nginx_log: Path = field(default_factory=Path)
    nginx_pid: int = 0
    origins: dict[str, Origin] = field(default_factory=dict)
    bare_port: int = 0
    bare_process: subprocess.Popen[bytes] | None = None

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.moto_port}"

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BenchError("redis-server is not on PATH (apt-get install redis-server)")
        self.redis_port = free_port()
        workdir = self.tmp / "redis"
        workdir.mkdir()
        process = self.procs.start(
            "redis",
            [binary, "--port", str(self.redis_port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
        )  # fmt: skip
        wait_until(lambda: self.redis_command("PING") == "+PONG", "redis-server", 15, process)

    def redis_command(self, *words: str) -> str:
        """One inline command over a raw socket (enough for PING and INFO)."""
        with socket.create_connection((HOST, self.redis_port), timeout=5) as sock:
            sock.sendall((" ".join(words) + "\r\n").encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"+") or data.startswith(b"-"):
                    if data.endswith(b"\r\n"):
                        break
                elif data.startswith(b"$"):
                    header, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(header[1:]) + 2:
                        break
        return data.decode(errors="replace").split("\r\n", 1)[0] if data[:1] in b"+-" else data.decode(errors="replace")

    def redis_media_commands(self) -> int:
        """Calls of GET and HGETALL so far: the two commands of one metadata lookup on the media path."""
        info = self.redis_command("INFO", "commandstats")
        total = 0
        for command in ("get", "hgetall"):
            match = re.search(rf"cmdstat_{command}:calls=(\d+)", info)
            total += int(match.group(1)) if match else 0
        return total

    def start_moto(self) -> None:
        self.moto_port = free_port()
        env = {**os.environ, **AWS_KEYS}
        argv = [str(VENV_BIN / "python"), "-c", MOTO_MAIN, str(MOTO_BACKLOG), "-H", HOST, "-p", str(self.moto_port)]
        process = self.procs.start("moto", argv, env)
        wait_until(lambda: fetch(self.moto_port, "/moto-api/").status == 200, "moto server", 30, process)
        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=BUCKET)

    def moto_object_gets(self) -> int:
        """GETs of objects in the bucket that moto has logged so far (werkzeug logs every request)."""
        text = (self.procs.log_dir / "moto.log").read_text(errors="replace")
        return len(re.findall(rf"GET /{BUCKET}/[^ ?]+\.png HTTP", text))  # the line may carry colour codes

    def origin_env(self, port: int, data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PICORA_", "AWS_"))}
        config = self.tmp / "picora.toml"
        if not config.exists():
            config.write_text(CONFIG_TOML)
        env.update(AWS_KEYS)
        env.update(
            PICORA_CONFIG=str(config),
            PICORA_HOST=HOST,
            PICORA_PORT=str(port),
            PICORA_ACCESS_LOG="off",
            PICORA_WORKERS="1",
            PICORA_DATA_DIR=str(data_dir),
            PICORA_REDIS_URL=self.redis_url,
            PICORA_STORAGE="s3",
            PICORA_S3_ENDPOINT_URL=self.s3_endpoint,
            PICORA_S3_BUCKET=BUCKET,
            PICORA_S3_REGION="us-east-1",
            PICORA_MEDIA_BASE_URL=f"http://{HOST}:{port}",
        )
        env.update(extra)
        return env

    def start_origin(
        self,
        name: str,
        extra: Mapping[str, str] | None = None,
        profile: Path | None = None,
        wrapper: Sequence[str] = (),
    ) -> Origin:
        """``picora-origin serve`` (one process); under cProfile, writing ``profile`` on exit, if asked;
        behind ``wrapper`` (a command such as valgrind's) if given."""
        port = free_port()
        data_dir = self.tmp / f"data-{name}"
        data_dir.mkdir()
        env = self.origin_env(port, data_dir, extra or {})
        argv = [str(VENV_BIN / "picora-origin"), "serve"]
        if profile is not None:
            argv = [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(profile), "-m", "origin.cli", "serve"]
        if wrapper:
            argv = [*wrapper, str(VENV_BIN / "python"), "-m", "origin.cli", "serve"]
        process = self.procs.start(name, argv, env, pinned=True)
        try:
            wait_until(lambda: healthy(port), f"origin {name}", 300 if wrapper else 30, process)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- {name}.log ---\n{self.procs.log_tail(name)}") from exc
        cache_bytes = int(env.get("PICORA_CACHE_BYTES", 256 * MIB))
        origin = Origin(name, port, process, env, cache_bytes, self.procs.log_dir / f"{name}.log")
        self.origins[name] = origin
        return origin

    def create_key(self, origin: Origin, user: str = "bench") -> str:
        done = subprocess.run(
            [str(VENV_BIN / "picora-origin"), "keys", "create", "--user", user],
            env=origin.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        keys = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("sk_live_")]
        if done.returncode != 0 or not keys:
            raise BenchError(f"keys create failed ({done.returncode}): {done.stdout}{done.stderr}")
        return keys[-1]

    def start_nginx(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise BenchError("nginx is not installed (apt-get install nginx-light)")
        self.nginx_port = free_port()
        prefix = self.tmp / "nginx"
        self.nginx_root = prefix / "root"
        (self.nginx_root / "hotlink").mkdir(parents=True)
        template = (BENCH_DIR / "nginx.conf.template").read_text()
        values = {
            "@USER_LINE@": "user root;" if os.geteuid() == 0 else "",
            "@PREFIX@": str(prefix),
            "@ROOT@": str(self.nginx_root),
            "@PORT@": str(self.nginx_port),
            "@HOTLINK_DOMAIN@": HOTLINK_DOMAIN,
        }
        for token, value in values.items():
            template = template.replace(token, value)
        conf = prefix / "nginx.conf"
        conf.write_text(template)
        argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "nginx-error.log")]
        self.nginx_log = prefix / "nginx-error.log"
        process = self.procs.start("nginx", argv, pinned=True)
        self.nginx_pid = process.pid
        try:
            wait_until(lambda: fetch(self.nginx_port, "/nginx-ready").status == 204, "nginx", 15, process)
        except BenchError as exc:
            error_log = (prefix / "nginx-error.log").read_text(errors="replace") if prefix.exists() else ""
            raise BenchError(f"{exc}\n{self.procs.log_tail('nginx')}\n{error_log}") from exc

    @property
    def bare_log(self) -> Path:
        return self.procs.log_dir / "bare.log"

    def start_bare(self, ready_path: str, wrapper: Sequence[str] = ()) -> None:
        """bench/bare_aiohttp.py: nginx's files, from memory; one process, uvloop, pinned like the origin.

        Files under ``hotlink/`` are served at the top level like the others, to an allowed Referer only."""
        self.bare_port = free_port()
        argv = [*wrapper, str(VENV_BIN / "python"), str(BENCH_DIR / "bare_aiohttp.py"), "--host", HOST,
                "--port", str(self.bare_port), "--root", str(self.nginx_root),
                "--hotlink-domain", HOTLINK_DOMAIN]  # fmt: skip
        self.bare_process = self.procs.start("bare", argv, pinned=True)
        timeout = 300 if wrapper else 30
        try:
            ready = lambda: fetch(self.bare_port, ready_path).status == 200  # noqa: E731
            wait_until(ready, "bare aiohttp", timeout, self.bare_process)
        except BenchError as exc:
            raise BenchError(f"{exc}\n--- bare.log ---\n{self.procs.log_tail('bare')}") from exc


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines() if ln.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return int(values[names.index("ListenOverflows")])
    return 0


def uses_uvloop(pid: int) -> bool:
    """Whether uvloop's extension is mapped into the process (imported, and so very likely the loop)."""
    try:
        return "uvloop" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
