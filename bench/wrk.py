"""Running wrk (with ``report.lua`` for a machine-readable line) and the CPU time a server spent meanwhile."""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
from common import BENCH_DIR, HOST, BenchError


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
