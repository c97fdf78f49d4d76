"""``make bench``: the media origin against nginx on the same bytes, plus origin memory under load.

Starts everything it needs on 127.0.0.1 (redis-server, moto's S3 server, origin instances, nginx),
uploads noise PNGs (50 KB, 2 MB, 20 MB) through the API, runs wrk against the origin, nginx and a bare
aiohttp app serving the same files from memory (bench/bare_aiohttp.py: the ceiling for any aiohttp app)
alternately, then streams the 20 MB image to many concurrent clients while sampling the origin's RSS.
Every process it starts runs in its own process group and is killed on the way out, Ctrl-C included.

See bench/README.md for what each scenario means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import boto3
import psutil
from PIL import Image

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
HOST = "127.0.0.1"
MIB = 1024 * 1024
BUCKET = "picora-bench"
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Raises the `free` plan so the 20 MB image can be uploaded.
CONFIG_TOML = "[plans.free]\nmax_file_bytes = 67108864\nstorage_bytes = 10737418240\n"
#: Targets from the issue: origin req/s at least this fraction of nginx's.
TARGETS = {"hit-50k": 0.35, "hit-2m": 1.0, "range-1k": 0.35, "revalidate-304": 0.35}
#: The memory bound is the cache budget plus this.
MEMORY_HEADROOM = 150 * MIB
MEMORY_CACHE_BYTES = 16 * MIB
#: The memory instance: a small body cache, and a first-byte bound long enough for moto, which
#: serialises concurrent GETs of one object (a lock per key) and so starts the 200th response many
#: seconds after the first; with the default 6 s the slow starts are 503s and never stream at all.
MEMORY_ORIGIN_ENV = {"PICORA_CACHE_BYTES": str(MEMORY_CACHE_BYTES), "PICORA_S3_FIRST_BYTE_TIMEOUT": "90"}
#: An origin on which every request misses: no body cache, no metadata memo.
COLD_ENV = {"PICORA_CACHE_BYTES": "0", "PICORA_METADATA_TTL": "0"}
#: Extra ~2 MB images uploaded only to fill the memory instance's body cache to its budget.
FILLER_IMAGES = 7
#: moto's server listens with werkzeug's backlog of 128: the memory phase's 200 streams open 200
#: connections to it at once, and the SYNs it dropped (retried after 1 s, 3 s) counted as the
#: origin's listen-queue overflows and pushed first bytes past the origin's 6 s limit.
MOTO_BACKLOG = 1024
MOTO_MAIN = (
    "import sys, werkzeug.serving; werkzeug.serving.BaseWSGIServer.request_queue_size = int(sys.argv.pop(1)); "
    "from moto.server import main; main()"
)


class BenchError(RuntimeError):
    """Something the benchmark needs did not work; the message says what."""


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

    def create_key(self, origin: Origin) -> str:
        done = subprocess.run(
            [str(VENV_BIN / "picora-origin"), "keys", "create", "--user", "bench"],
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
        self.nginx_root.mkdir(parents=True)
        template = (BENCH_DIR / "nginx.conf.template").read_text()
        values = {
            "@USER_LINE@": "user root;" if os.geteuid() == 0 else "",
            "@PREFIX@": str(prefix),
            "@ROOT@": str(self.nginx_root),
            "@PORT@": str(self.nginx_port),
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
        """bench/bare_aiohttp.py: nginx's files, from memory; one process, uvloop, pinned like the origin."""
        self.bare_port = free_port()
        argv = [*wrapper, str(VENV_BIN / "python"), str(BENCH_DIR / "bare_aiohttp.py"), "--host", HOST,
                "--port", str(self.bare_port), "--root", str(self.nginx_root)]  # fmt: skip
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


# ---------------------------------------------------------------- images


def noise_png(target_bytes: int, width: int) -> bytes:
    """An RGB PNG of random noise, stored uncompressed, of about ``target_bytes``."""
    height = max(1, target_bytes // (width * 3 + 1))
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@dataclass(frozen=True)
class Uploaded:
    label: str
    id: str
    path: str
    data: bytes


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop  # optional: a faster client for the memory phase
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def upload_all(port: int, key: str, images: Sequence[tuple[str, bytes]]) -> list[Uploaded]:
    done: list[Uploaded] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for label, data in images:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=f"{label}.png", content_type="image/png")
            async with session.post(
                f"http://{HOST}:{port}/v1/images", data=form, headers={"Authorization": f"Bearer {key}"}
            ) as response:
                text = await response.text()
                if response.status != 201:
                    raise BenchError(f"upload of {label} ({len(data)} bytes): {response.status} {text[:500]}")
            record = json.loads(text)["data"]
            if record["sizeBytes"] != len(data):
                raise BenchError(f"upload of {label}: stored {record['sizeBytes']} bytes, sent {len(data)}")
            path = urlsplit(record["url"]).path
            if path != f"/{record['id']}.png":
                raise BenchError(f"upload of {label}: unexpected url {record['url']}")
            done.append(Uploaded(label, record["id"], path, data))
    return done


# ---------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    requests: int
    bytes: int
    duration_s: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    #: CPU seconds (user + system) the server process used during the run.
    cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its living descendants (nginx master + worker)."""
    if not pid:
        return 0.0
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += float(times.user) + float(times.system)
    return total


def run_wrk(port: int, path: str, headers: Sequence[str], args: argparse.Namespace, pin: str | None) -> WrkResult:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
               "--timeout", "10s", "-s", str(BENCH_DIR / "report.lua")]  # fmt: skip
    for header in headers:
        command += ["-H", header]
    command.append(f"http://{HOST}:{port}{path}")
    if pin is not None:
        command = ["taskset", "-c", pin, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.duration + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkResult(
        requests=raw["requests"],
        bytes=raw["bytes"],
        duration_s=raw["duration_us"] / 1e6,
        errors={k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Side:
    port: int
    path: str
    headers: tuple[str, ...] = ()
    #: The server's log, read for warnings and errors written during each run.
    log: Path | None = None
    #: The server's process (nginx: the master; its workers are counted with it), for CPU time.
    pid: int = 0


@dataclass
class Scenario:
    key: str
    title: str
    origin: Side
    nginx: Side
    status: int
    body: bytes
    #: The bare aiohttp reference (bench/bare_aiohttp.py) on the same file, where it is like for like.
    bare: Side | None = None
    note: str = ""
    #: Counters read before and after every origin run, reported per request (cold-miss proof).
    counters: Callable[[], dict[str, int]] | None = None
    runs: dict[str, list[WrkResult]] = field(default_factory=lambda: {"origin": [], "nginx": [], "bare": []})
    per_request: list[dict[str, float]] = field(default_factory=list)

    @property
    def target(self) -> float | None:
        return TARGETS.get(self.key)

    def sides(self) -> list[tuple[str, Side]]:
        """The servers of one round, in the order they run: origin, nginx, then bare aiohttp if there is one."""
        sides = [("origin", self.origin), ("nginx", self.nginx)]
        return sides + ([("bare", self.bare)] if self.bare is not None else [])

    def best(self, side: str) -> WrkResult:
        return max(self.runs[side], key=lambda r: r.rps)

    def best_bare(self) -> WrkResult | None:
        return self.best("bare") if self.runs["bare"] else None


def header_dict(headers: Sequence[str]) -> dict[str, str]:
    pairs = (header.split(":", 1) for header in headers)
    return {name.strip(): value.strip() for name, value in pairs}


def verify(scenario: Scenario, side_name: str, side: Side) -> None:
    """One request before the load: the right status and exactly the right bytes."""
    reply = fetch(side.port, side.path, header_dict(side.headers))
    if reply.status != scenario.status or reply.body != scenario.body:
        raise BenchError(
            f"{scenario.key} on {side_name}: got {reply.status} with {len(reply.body)} bytes, "
            f"expected {scenario.status} with {len(scenario.body)} bytes"
        )


def check_run(scenario: Scenario, side_name: str, result: WrkResult, connections: int) -> list[str]:
    """Problems seen in one wrk run: error counts, and fewer bytes than complete responses need."""
    problems = []
    errors = {k: v for k, v in result.errors.items() if v}
    if errors:
        problems.append(f"{scenario.key} on {side_name}: wrk errors {errors} in {result.requests} requests")
    body = len(scenario.body)
    if result.requests and result.bytes < result.requests * body:
        problems.append(
            f"{scenario.key} on {side_name}: {result.bytes} bytes read for {result.requests} responses "
            f"of {body} body bytes: responses were cut short"
        )
    # Headers are a few hundred bytes; bodies still in flight at the end add up to connections x body.
    slack = 4096 + connections * body / max(result.requests, 1)
    if result.requests and result.bytes / result.requests > body + slack:
        problems.append(f"{scenario.key} on {side_name}: {result.bytes / result.requests:.0f} bytes per response")
    return problems


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (WARNING|ERROR|CRITICAL) ")
_NGINX_RECORD = re.compile(r"\[(warn|error|crit|alert|emerg)\] ")


class LogWatch:
    """Warnings and errors that servers log, read incrementally (what each run added)."""

    def __init__(self) -> None:
        self.offsets: dict[Path, int] = {}

    def mark(self, path: Path) -> None:
        self.offsets[path] = path.stat().st_size if path.exists() else 0

    def new_events(self, path: Path) -> Counter[str]:
        """One count per logged warning/error, keyed by its message and the exception it ends with."""
        if not path.exists():
            return Counter()
        with path.open("rb") as handle:
            handle.seek(self.offsets.get(path, 0))
            data = handle.read()
        self.offsets[path] = self.offsets.get(path, 0) + len(data)
        text = data.decode(errors="replace")
        events: Counter[str] = Counter()
        record: list[str] = []

        def flush() -> None:
            if record:
                message = record[0].split(" ", 3)[-1]
                tail = [ln for ln in record[1:] if ln and not ln.startswith((" ", "Traceback", "During", "The above"))]
                events[f"{message[:100]}" + (f" [{tail[-1][:140]}]" if tail else "")] += 1
                record.clear()

        for line in text.splitlines():
            if _NGINX_RECORD.search(line):
                flush()
                events[f"nginx: {line.split('] ', 1)[-1][:140]}"] += 1
            elif _LOG_RECORD.match(line):
                flush()
                record.append(line)
            elif re.match(r"^\d{4}-\d\d-\d\d ", line):
                flush()
            elif record:
                record.append(line)
        flush()
        return events


def describe(events: Counter[str]) -> str:
    return "; ".join(f"{n} x {event}" for event, n in events.most_common(3))


def run_scenarios(
    scenarios: Sequence[Scenario], args: argparse.Namespace, wrk_pin: str | None, logs: LogWatch
) -> list[str]:
    problems: list[str] = []
    for scenario in scenarios:
        for side_name, side in scenario.sides():
            verify(scenario, side_name, side)
        for round_number in range(args.rounds):
            for side_name, side in scenario.sides():
                if side.log is not None:
                    logs.mark(side.log)
                before = scenario.counters() if scenario.counters and side_name == "origin" else None
                overflows, cpu = listen_overflows(), cpu_seconds(side.pid)
                result = run_wrk(side.port, side.path, side.headers, args, wrk_pin)
                result = dataclasses.replace(result, cpu_s=cpu_seconds(side.pid) - cpu)
                overflows = listen_overflows() - overflows
                if overflows:
                    problems.append(
                        f"{scenario.key} on {side_name}: {overflows} connections overflowed the listen queue"
                    )
                if before is not None and scenario.counters is not None:
                    after = scenario.counters()
                    scenario.per_request.append({k: (after[k] - before[k]) / max(result.requests, 1) for k in before})
                scenario.runs[side_name].append(result)
                problems += check_run(scenario, side_name, result, args.connections)
                time.sleep(0.2)  # let the server finish logging what the end of the run caused
                events = logs.new_events(side.log) if side.log is not None else Counter()
                if events:
                    problems.append(
                        f"{scenario.key} on {side_name}, round {round_number + 1}: {sum(events.values())} "
                        f"warnings/errors logged ({describe(events)})"
                    )
                print(
                    f"  {scenario.key:<15} round {round_number + 1} {side_name:<6} {result.rps:>10,.0f} req/s"
                    f"  p99 {result.p99_ms:7.2f} ms  CPU {result.cpu_us_per_request:5.0f} us/req"
                    f"  errors {sum(result.errors.values())}"
                    f"  logged {sum(events.values())}",
                    flush=True,
                )
        for side_name, side in scenario.sides():
            if side_name != "nginx":
                verify(scenario, side_name, side)  # still answering correctly after the load
    return problems


def fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def scenario_table(scenarios: Sequence[Scenario]) -> str:
    header = (
        "scenario", "origin req/s", "nginx req/s", "origin/nginx", "target", "result", "bare req/s", "bare/nginx",
        "origin/bare", "origin p99", "nginx p99", "bare p99", "origin CPU/req", "nginx CPU/req", "bare CPU/req",
    )  # fmt: skip
    rows = [header]

    def ratio(a: WrkResult | None, b: WrkResult | None) -> str:
        return f"{a.rps / b.rps:.2f}x" if a is not None and b is not None and b.rps else "-"

    for s in scenarios:
        origin, nginx, bare = s.best("origin"), s.best("nginx"), s.best_bare()
        target = s.target
        verdict = "-" if target is None else ("PASS" if nginx.rps and origin.rps / nginx.rps >= target else "FAIL")
        rows.append((
            s.title, fmt_rps(origin.rps), fmt_rps(nginx.rps), ratio(origin, nginx),
            "-" if target is None else f">= {target:.2f}x", verdict,
            fmt_rps(bare.rps) if bare else "-", ratio(bare, nginx), ratio(origin, bare),
            f"{origin.p99_ms:.2f} ms", f"{nginx.p99_ms:.2f} ms", f"{bare.p99_ms:.2f} ms" if bare else "-",
            f"{origin.cpu_us_per_request:.0f} us", f"{nginx.cpu_us_per_request:.0f} us",
            f"{bare.cpu_us_per_request:.0f} us" if bare else "-",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ---------------------------------------------------------------- memory


class RssSampler(threading.Thread):
    """RSS of a process (and any children) every ``interval`` seconds, in a thread of its own."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._halt = threading.Event()

    def rss(self) -> int:
        total = int(self.process.memory_info().rss)
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += int(child.memory_info().rss)
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(psutil.Error):
                self.samples.append(self.rss())
            self._halt.wait(self.interval)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class LatencyProbe(threading.Thread):
    """GET /healthz one after another while the load runs: how long the origin's event loop takes to answer."""

    def __init__(self, port: int, interval: float = 0.1) -> None:
        super().__init__(name="healthz-probe", daemon=True)
        self.port = port
        self.interval = interval
        self.latencies: list[float] = []
        self.failures = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            try:
                ok = healthy(self.port)
            except (OSError, http.client.HTTPException):
                ok = False
            if ok:
                self.latencies.append(time.monotonic() - started)
            else:
                self.failures += 1
            self._halt.wait(self.interval)

    def halt(self) -> None:
        self._halt.set()
        self.join(timeout=35)

    def summary(self) -> str:
        if not self.latencies:
            return f"no answer ({self.failures} failures)"
        ordered = sorted(self.latencies)
        p50, worst = ordered[len(ordered) // 2], ordered[-1]
        return f"{len(ordered)} probes: median {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms, {self.failures} failed"


def vm_hwm(pid: int) -> int | None:
    """The kernel's high-water mark of the process's RSS since it started."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


@dataclass
class DownloadStats:
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    unfinished: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0


async def download_many(port: int, path: str, size: int, count: int, time_limit: float) -> DownloadStats:
    """``count`` concurrent GETs of one object, bodies read in chunks and thrown away."""
    stats = DownloadStats()
    connector = aiohttp.TCPConnector(limit=count, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            received = 0
            try:
                async with session.get(f"http://{HOST}:{port}{path}") as response:
                    async for chunk in response.content.iter_chunked(256 * 1024):
                        received += len(chunk)
                    stats.bytes += received
                    if response.status != 200:
                        stats.failures[f"status {response.status}"] += 1
                    elif received != size:
                        stats.failures[f"short body ({received} of {size} bytes)"] += 1
                    else:
                        stats.ok += 1
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                stats.bytes += received
                stats.failures[f"{type(exc).__name__}: {exc}"[:120]] += 1

        started = time.monotonic()
        tasks = [asyncio.create_task(one()) for _ in range(count)]
        _, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        stats.unfinished = len(pending)
        stats.elapsed_s = time.monotonic() - started
    return stats


@dataclass
class MemoryResult:
    cache_bytes: int
    cache_filled: int
    baseline: int
    peak: int
    hwm: int | None
    after: int
    samples: int
    stats: DownloadStats
    size: int
    count: int
    healthz: str
    overflows: int
    still_cached: int
    cached: int

    @property
    def bound(self) -> int:
        return self.cache_bytes + MEMORY_HEADROOM


def memory_phase(
    origin: Origin, big: Uploaded, fillers: Sequence[Uploaded], args: argparse.Namespace, s3_gets: Callable[[], int]
) -> MemoryResult:
    filled = 0
    for image in fillers:  # fills the body cache, so the bound is met with the cache actually in use
        for _ in range(2):
            reply = fetch(origin.port, image.path)
            if reply.status != 200 or reply.body != image.data:
                raise BenchError(f"memory origin: GET {image.path} answered {reply.status}")
        filled += len(image.data)
    warm = fetch(origin.port, big.path)  # one full stream first: connection pools and buffers exist
    if warm.status != 200 or warm.body != big.data:
        raise BenchError(f"memory origin: GET {big.path} answered {warm.status} with {len(warm.body)} bytes")
    del warm
    sampler = RssSampler(origin.pid, 0.05)
    time.sleep(1.0)
    baseline = int(statistics.median(sampler.rss() for _ in range(5)))
    probe = LatencyProbe(origin.port)
    overflows = listen_overflows()
    sampler.start()
    probe.start()
    try:
        stats = run_async(download_many(origin.port, big.path, len(big.data), args.downloads, args.download_limit))
    finally:
        sampler.halt()
        probe.halt()
    overflows = listen_overflows() - overflows
    time.sleep(1.0)
    after = sampler.rss()
    gets = s3_gets()
    for image in fillers:  # were the cached bodies still there at the end? (a miss reads S3 again)
        fetch(origin.port, image.path)
    time.sleep(0.2)  # moto logs after it answers
    evicted = s3_gets() - gets
    return MemoryResult(
        cache_bytes=origin.cache_bytes, cache_filled=filled, baseline=baseline,
        peak=max(sampler.samples, default=baseline), hwm=vm_hwm(origin.pid), after=after,
        samples=len(sampler.samples), stats=stats, size=len(big.data), count=args.downloads,
        healthz=probe.summary(), overflows=overflows, still_cached=len(fillers) - evicted, cached=len(fillers),
    )  # fmt: skip


def mib(value: int) -> str:
    return f"{value / MIB:.1f} MiB"


def memory_report(m: MemoryResult) -> str:
    verdict = "PASS" if m.peak <= m.bound else "FAIL"
    s = m.stats
    rate = s.bytes / s.elapsed_s / MIB if s.elapsed_s else 0.0
    lines = [
        f"Memory: {m.count} concurrent downloads of the {m.size / 1e6:.1f} MB object (streamed: above the "
        f"cacheable size), origin with PICORA_CACHE_BYTES={m.cache_bytes} ({mib(m.cache_bytes)}), cache filled "
        f"with {m.cache_filled / 1e6:.1f} MB first",
        f"  baseline RSS      {mib(m.baseline)}  (after the fill and one full download)",
        f"  peak RSS          {mib(m.peak)}  ({m.samples} samples every 50 ms; kernel VmHWM "
        f"{mib(m.hwm) if m.hwm is not None else 'n/a'})",
        f"  growth            {mib(m.peak - m.baseline)} over baseline at the peak",
        f"  RSS afterwards    {mib(m.after)}",
        f"  bound             {mib(m.bound)}  (cache budget + {MEMORY_HEADROOM // MIB} MiB)  -> {verdict}",
        f"  downloads         {s.ok} complete, {sum(s.failures.values())} failed, {s.unfinished} unfinished at "
        f"the {s.elapsed_s:.1f} s mark; {s.bytes / 1e9:.2f} GB at {rate:.0f} MiB/s",
        f"  GET /healthz      meanwhile, one after another: {m.healthz}",
        f"  listen queue      {m.overflows} connection attempts dropped because the origin's accept queue was full"
        + (" (the client retries after 1 s, 3 s, 7 s, ...)" if m.overflows else ""),
        f"  body cache        {m.still_cached} of the {m.cached} objects cached before the phase were still cached "
        "after it",
    ]
    lines += [f"    failure: {n} x {reason}" for reason, n in s.failures.most_common(5)]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server and scenario (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--downloads", type=int, default=200, help="concurrent downloads in the memory phase")
    parser.add_argument("--download-limit", type=float, default=60.0, help="seconds the memory phase may take")
    parser.add_argument("--only", help="comma-separated scenario keys to run (default: all)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory phase")
    parser.add_argument(
        "--only-memory", action="store_true", help="only the memory phase: no wrk scenarios, nginx or bare aiohttp"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers to CPU 0 and wrk to CPU 1")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    parser.add_argument(
        "--profile", metavar="SCENARIO", help="instead of the comparison: one wrk run of SCENARIO against an origin "
        "under cProfile, then its top functions (cProfile slows it down: look at shares, not req/s)",
    )  # fmt: skip
    parser.add_argument(
        "--instructions", metavar="SCENARIO", help="instead of the comparison: instructions per request of the "
        "origin and bare aiohttp for SCENARIO under valgrind's callgrind (steady whatever the load; ~2 min)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.only_memory and (args.no_memory or args.profile):
        parser.error("--only-memory excludes --no-memory and --profile")
    return args


def cpu_pins(args: argparse.Namespace) -> tuple[str | None, str | None]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if args.no_pin or len(cpus) < 2 or shutil.which("taskset") is None:
        return None, None
    return str(cpus[0]), str(cpus[1])


def load_note() -> str:
    """The 1-minute load average, with a warning when other work competes for the CPUs."""
    load = os.getloadavg()[0]
    busy = load > 0.5
    return f"load average {load:.2f}" + (" (other processes are busy: expect low, noisy numbers)" if busy else "")


def tool_version(argv: Sequence[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        text = (done.stdout + done.stderr).strip().splitlines()
        return text[0] if text else "?"
    return "?"


def build_scenarios(stack: Stack, small: Uploaded, medium: Uploaded, hot: Origin, cold: Origin) -> list[Scenario]:
    nginx = stack.nginx_port
    origin_etag = fetch(hot.port, small.path).headers["etag"]  # also warms both bodies
    nginx_etag = fetch(nginx, small.path).headers["etag"]
    fetch(hot.port, medium.path)
    range_header = ("Range: bytes=1000-2023",)

    def origin(path: str, headers: tuple[str, ...] = (), on: Origin = hot) -> Side:
        return Side(on.port, path, headers, on.log, on.pid)

    def reference(path: str, headers: tuple[str, ...] = ()) -> Side:
        return Side(nginx, path, headers, stack.nginx_log, stack.nginx_pid)

    def bare(path: str, headers: tuple[str, ...] = ()) -> Side | None:
        if stack.bare_process is None:
            return None
        return Side(stack.bare_port, path, headers, stack.bare_log, stack.bare_process.pid)

    bare_etag = fetch(stack.bare_port, small.path).headers["etag"] if stack.bare_process is not None else ""

    def cold_counters() -> dict[str, int]:
        return {"S3 GETs": stack.moto_object_gets(), "Redis GET+HGETALL": stack.redis_media_commands()}

    return [
        Scenario("hit-50k", "50 KB hit", origin(small.path), reference(small.path), 200, small.data, bare(small.path)),
        Scenario(
            "hit-2m", "2 MB hit", origin(medium.path), reference(medium.path), 200, medium.data, bare(medium.path)
        ),
        Scenario(
            "range-1k",
            "1 KB range of 2 MB",
            origin(medium.path, range_header),
            reference(medium.path, range_header),
            206,
            medium.data[1000:2024],
            bare(medium.path, range_header),
        ),
        Scenario(
            "revalidate-304",
            "304 revalidation (50 KB)",
            origin(small.path, (f"If-None-Match: {origin_etag}",)),
            reference(small.path, (f"If-None-Match: {nginx_etag}",)),
            304,
            b"",
            bare(small.path, (f"If-None-Match: {bare_etag}",)),  # nginx's ETag: bare_aiohttp.py makes it alike
        ),
        Scenario(
            "cold-50k",
            "50 KB cold miss from S3 (*)",
            origin(small.path, on=cold),
            reference(small.path),
            200,
            small.data,
            note="nginx serves the same file from local disk (page cache): not like for like",
            counters=cold_counters,
        ),
    ]


def cold_report(scenario: Scenario) -> str:
    s3 = [r["S3 GETs"] for r in scenario.per_request]
    lookups = [r["Redis GET+HGETALL"] / 2 for r in scenario.per_request]
    return (
        f"    {scenario.key} origin: PICORA_CACHE_BYTES=0, PICORA_METADATA_TTL=0; per request, over the rounds: "
        f"S3 GETs {min(s3):.2f}-{max(s3):.2f}, Redis metadata lookups (GET+HGETALL) {min(lookups):.2f}-"
        f"{max(lookups):.2f}\n"
        "    (fewer lookups than requests: concurrent misses for one id share a lookup through single-flight)"
    )


def extra_origin(
    stack: Stack, scenario: Scenario, name: str, *, profile: Path | None = None, wrapper: Sequence[str] = ()
) -> tuple[Origin, Side]:
    """One more origin set up like the scenario's (cold or not), and the side to drive it with."""
    extra = COLD_ENV if scenario.counters is not None else {}
    started = stack.start_origin(name, extra, profile=profile, wrapper=wrapper)
    headers = scenario.origin.headers
    if scenario.key == "revalidate-304":  # same record, same ETag, whichever instance answers
        headers = (f"If-None-Match: {fetch(started.port, scenario.origin.path).headers['etag']}",)
    return started, Side(started.port, scenario.origin.path, headers)


def profile_scenario(stack: Stack, scenario: Scenario, args: argparse.Namespace, wrk_pin: str | None) -> None:
    """One wrk run against an extra origin under cProfile; prints where the origin's CPU time went."""
    import pstats  # only this mode needs it

    output = stack.tmp / "origin.prof"
    profiled, side = extra_origin(stack, scenario, "origin-profiled", profile=output)
    fetch(profiled.port, side.path)
    result = run_wrk(side.port, side.path, side.headers, args, wrk_pin)
    print(
        f"{scenario.key} under cProfile: {result.requests} requests in {result.duration_s:.1f} s "
        f"({result.rps:,.0f} req/s), errors {result.errors}"
    )
    stack.procs.stop(profiled.process, signal.SIGINT, grace=30)  # aiohttp exits cleanly; cProfile writes
    if not output.exists():
        raise BenchError(f"cProfile wrote nothing; see {profiled.log}")
    stats = pstats.Stats(str(output), stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def callgrind(out: Path) -> list[str]:
    """valgrind counting instructions, idle until ``callgrind_control -i on`` (start-up runs ~5x slower, not 50x)."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


#: A light load for a server under valgrind (it runs ~50x slower there).
CALLGRIND_LOAD = argparse.Namespace(threads=1, connections=4, duration=10)


def instructions_per_request(name: str, process: subprocess.Popen[bytes], side: Side, dump: Path) -> tuple[int, int]:
    """Warm ``side``, count the server's instructions over 10 s of ``wrk -c4`` and return (total, requests)."""
    headers = dict(header.split(": ", 1) for header in side.headers)
    for _ in range(5):
        fetch(side.port, side.path, headers)
    control = ["callgrind_control"]
    subprocess.run([*control, "-i", "on", str(process.pid)], capture_output=True, timeout=60, check=True)
    result = run_wrk(side.port, side.path, side.headers, CALLGRIND_LOAD, None)
    subprocess.run([*control, "-d", str(process.pid)], capture_output=True, timeout=60, check=True)
    if any(result.errors.values()):
        raise BenchError(f"wrk against {name} under valgrind saw errors: {result.errors}")
    dumps = sorted(dump.parent.glob(dump.name + "*"), key=lambda path: path.stat().st_mtime)
    totals = [ln for ln in dumps[-1].read_text().splitlines() if ln.startswith(("summary:", "totals:"))]
    return int(totals[0].split()[1]), result.requests


def count_instructions(stack: Stack, scenario: Scenario, small: Uploaded) -> None:
    """Instructions per request of the origin and bare aiohttp under callgrind: a cost that does
    not move with the machine's load, unlike req/s and CPU time (user space only)."""
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind is not installed (apt-get install valgrind)")
    origin_out = stack.tmp / "callgrind.origin"
    counted, side = extra_origin(stack, scenario, "origin-callgrind", wrapper=callgrind(origin_out))
    rows = [("origin", *instructions_per_request("origin", counted.process, side, origin_out))]
    if scenario.counters is None:  # the bare app answers as nginx does (same ETag), from memory: no cold case
        bare_out = stack.tmp / "callgrind.bare"
        stack.start_bare(small.path, wrapper=callgrind(bare_out))
        assert stack.bare_process is not None
        side = Side(stack.bare_port, scenario.nginx.path, scenario.nginx.headers)
        rows.append(("bare aiohttp", *instructions_per_request("bare", stack.bare_process, side, bare_out)))
    print(f"\n{scenario.key}: instructions per request under callgrind (user space; wrk -t1 -c4 -d10s)")
    for name, total, requests in rows:
        print(f"  {name:<13} {total / max(requests, 1):>12,.0f}   ({total:,} over {requests:,} requests)")
    if len(rows) == 2:
        print(f"  origin/bare   {rows[0][1] / rows[0][2] / (rows[1][1] / rows[1][2]):.2f}x the instructions")


def bench(stack: Stack, args: argparse.Namespace) -> int:
    server_pin, wrk_pin = cpu_pins(args)
    started, load_before = time.monotonic(), load_note()
    print(f"starting redis-server, moto, {'' if args.only_memory else 'nginx '}and the origin ...", flush=True)
    stack.start_redis()
    stack.start_moto()
    if not args.only_memory:
        stack.start_nginx()
    origin = stack.start_origin("origin")
    key = stack.create_key(origin)

    print("making and uploading images ...", flush=True)
    images = [("small", noise_png(50_000, 128)), ("medium", noise_png(2_000_000, 1024))]
    if not args.no_memory and not args.profile and not args.instructions:
        images.append(("large", noise_png(20_000_000, 2048)))
        images += [(f"filler{n}", noise_png(2_000_000, 1024)) for n in range(FILLER_IMAGES)]
    uploaded = run_async(upload_all(origin.port, key, images))
    small, medium, *rest = uploaded
    print("  " + ", ".join(f"{i.label} {len(i.data):,} B" for i in uploaded[:3]), flush=True)
    if args.only_memory:
        return finish(stack, args, [], [], LogWatch(), started, rest, small, medium)
    for image in uploaded:
        (stack.nginx_root / f"{image.id}.png").write_bytes(image.data)

    cold = stack.start_origin("origin-cold", COLD_ENV)
    if not args.profile and not args.instructions:
        stack.start_bare(small.path)  # after the files are in nginx's root: it loads them at start
    scenarios = build_scenarios(stack, small, medium, origin, cold)
    if args.instructions:
        chosen = [s for s in scenarios if s.key == args.instructions]
        if not chosen:
            raise BenchError(f"no scenario {args.instructions!r}; one of {', '.join(s.key for s in scenarios)}")
        count_instructions(stack, chosen[0], small)
        return 0
    if args.profile:
        chosen = [s for s in scenarios if s.key == args.profile]
        if not chosen:
            raise BenchError(f"no scenario {args.profile!r}; one of {', '.join(s.key for s in scenarios)}")
        profile_scenario(stack, chosen[0], args, wrk_pin)
        return 0
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s.key in wanted]

    loop_name = "uvloop" if uses_uvloop(origin.pid) else "asyncio (uvloop NOT loaded)"
    pinning = f"servers pinned to CPU {server_pin}, wrk to CPU {wrk_pin}" if server_pin else "no CPU pinning"
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs; {pinning}; before starting: {load_before}", flush=True
    )
    print(
        f"origin: 1 process, access log off, event loop {loop_name}; {tool_version(['nginx', '-v'])}: 1 worker, "
        f"sendfile on, access log off; {tool_version(['wrk', '-v']).split(' [')[0]}",
        flush=True,
    )
    bare_pid = stack.bare_process.pid if stack.bare_process is not None else 0
    print(
        f"bare: bench/bare_aiohttp.py, aiohttp {aiohttp.__version__}, 1 process, event loop "
        f"{'uvloop' if uses_uvloop(bare_pid) else 'asyncio (uvloop NOT loaded)'}, access log off, no middlewares, "
        "the same files from a dict in memory (not for cold-50k)",
        flush=True,
    )
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, {args.rounds} rounds alternating "
        "origin/nginx/bare; the table shows each side's best round (highest req/s) and that round's p99\n",
        flush=True,
    )
    logs = LogWatch()
    problems = run_scenarios(scenarios, args, wrk_pin, logs)
    return finish(stack, args, scenarios, problems, logs, started, rest, small, medium)


def finish(
    stack: Stack,
    args: argparse.Namespace,
    scenarios: Sequence[Scenario],
    problems: list[str],
    logs: LogWatch,
    started: float,
    rest: Sequence[Uploaded],
    small: Uploaded,
    medium: Uploaded,
) -> int:
    """The memory phase (unless skipped), the report and the checks over every server's log."""
    memory: MemoryResult | None = None
    if not args.no_memory:
        large, *fillers = rest
        print(f"\nmemory phase: {args.downloads} concurrent downloads of the {len(large.data):,} B image ...")
        mem_origin = stack.start_origin("origin-memory", MEMORY_ORIGIN_ENV)
        logs.mark(mem_origin.log)
        memory = memory_phase(mem_origin, large, [small, medium, *fillers], args, stack.moto_object_gets)
        events = logs.new_events(mem_origin.log)
        if events:
            problems.append(f"memory phase: {sum(events.values())} warnings/errors logged ({describe(events)})")
        if memory.stats.failures or memory.stats.unfinished:
            problems.append("memory phase: not every download completed (see above)")
        if memory.overflows:
            problems.append(f"memory phase: {memory.overflows} connection attempts overflowed the listen queue")

    if scenarios:
        print("\n" + scenario_table(scenarios))
    for s in scenarios:
        if s.note:
            print(f"(*) {s.note}.")
        if s.per_request:
            print(cold_report(s))
    if memory is not None:
        print("\n" + memory_report(memory))
    whole = LogWatch()  # everything each server logged, between runs too
    for name, running in stack.origins.items():
        if running.process.poll() is not None:
            problems.append(f"{name} exited with status {running.process.returncode}")
        events = whole.new_events(running.log)
        if events:
            problems.append(f"{name}, whole run: {sum(events.values())} warnings/errors logged ({describe(events)})")
    events = whole.new_events(stack.nginx_log) if stack.nginx_pid else Counter()
    if events:
        problems.append(f"nginx, whole run: {sum(events.values())} warnings/errors logged ({describe(events)})")
    if stack.bare_process is not None:
        if stack.bare_process.poll() is not None:
            problems.append(f"bare aiohttp exited with status {stack.bare_process.returncode}")
        events = whole.new_events(stack.bare_log)
        if events:
            problems.append(f"bare, whole run: {sum(events.values())} warnings/errors logged ({describe(events)})")
    print("\nchecks: " + ("no errors, every response complete, nothing logged" if not problems else "PROBLEMS"))
    for problem in problems:
        print(f"  - {problem}")
    print(f"\ntotal time {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


def keep_logs_only(tmp: Path) -> None:
    """Drop the data (images, Redis, spool) of a run that found problems; keep what the servers logged."""
    nginx_log = tmp / "nginx" / "nginx-error.log"
    if nginx_log.exists():
        shutil.copy(nginx_log, tmp / "logs" / "nginx-error.log")
    for entry in tmp.iterdir():
        if entry.name != "logs":
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextlib.contextmanager
def signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the finally blocks clean up.

    SIGINT gets Python's default handler back too: a shell starts background jobs with it ignored.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="picora-bench-"))
    (tmp / "logs").mkdir()
    procs = Processes(tmp / "logs", cpu_pins(args)[0])
    stack = Stack(procs, tmp)
    status = 1
    with signals_as_exit():
        try:
            status = bench(stack, args)
        except BenchError as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
        except KeyboardInterrupt:
            print("\ninterrupted; stopping everything", file=sys.stderr)
            status = 130
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
            try:
                procs.stop_all()
            finally:
                signal.signal(signal.SIGINT, previous)
            if args.keep:
                print(f"logs and data kept in {tmp}", file=sys.stderr)
            elif status not in (0, 130):
                keep_logs_only(tmp)
                print(f"logs kept in {tmp / 'logs'}", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
