"""Where the origin's cost goes: cProfile (``--profile``) and callgrind's instruction counts (``--instructions``)."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common import BenchError, fetch
from images import Uploaded
from report import table
from scenarios import INSTRUCTION_TARGETS, Scenario, Side, header_dict
from stack import COLD_ENV, Origin, Stack
from wrk import run_wrk


def extra_origin(
    stack: Stack, scenario: Scenario, name: str, *, profile: Path | None = None, wrapper: Sequence[str] = ()
) -> tuple[Origin, Side]:
    """One more origin set up like the scenario's (cold or not), and the side to drive it with."""
    extra = COLD_ENV if scenario.counters is not None else {}
    started = stack.start_origin(name, extra, profile=profile, wrapper=wrapper)
    headers = scenario.origin.headers
    others = tuple(h for h in headers if not h.lower().startswith("if-none-match:"))
    if others != headers:  # this instance's ETag (the same record gives the same one; asking proves it)
        etag = fetch(started.port, scenario.origin.path, header_dict(others)).headers["etag"]
        headers = (*others, f"If-None-Match: {etag}")
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


def callgrind_load(connections: int) -> argparse.Namespace:
    """A light load for a server under valgrind (it runs ~50x slower there): wrk for 10 s."""
    return argparse.Namespace(threads=1, connections=connections, duration=10)


@dataclass(frozen=True)
class Measured:
    """One server's instructions over a load and over as long a time idle right after it."""

    total: int
    requests: int
    duration_s: float
    idle_total: int
    idle_s: float

    @property
    def raw(self) -> float:
        return self.total / max(self.requests, 1)

    @property
    def net(self) -> float:
        """Per request, without what the server does by the clock (timers, memo refreshes, background loops):
        that part scales with the seconds the load took, which vary with the machine's load, not with requests."""
        idle = self.idle_total / self.idle_s * self.duration_s if self.idle_s else 0.0
        return (self.total - idle) / max(self.requests, 1)


def dump_instructions(process: subprocess.Popen[bytes], dump: Path) -> int:
    """``callgrind_control -d`` (dump and zero the counters): the instructions since the last dump."""
    before = set(dump.parent.glob(dump.name + "*"))
    subprocess.run(["callgrind_control", "-d", str(process.pid)], capture_output=True, timeout=60, check=True)
    new = sorted(set(dump.parent.glob(dump.name + "*")) - before, key=lambda path: path.stat().st_mtime)
    if not new:
        raise BenchError(f"callgrind wrote no dump for {dump.name}")
    totals = [ln for ln in new[-1].read_text().splitlines() if ln.startswith(("summary:", "totals:"))]
    return int(totals[0].split()[1])


def instructions_per_request(
    name: str, process: subprocess.Popen[bytes], side: Side, dump: Path, load: argparse.Namespace
) -> Measured:
    """Warm ``side``, count the server's instructions over 10 s of ``load`` (wrk), then over as long idle."""
    headers = dict(header.split(": ", 1) for header in side.headers)
    for _ in range(5):
        fetch(side.port, side.path, headers)
    subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], capture_output=True, timeout=60, check=True)
    started = time.monotonic()
    result = run_wrk(side.port, side.path, side.headers, load, None)
    total = dump_instructions(process, dump)
    loaded_s = time.monotonic() - started
    if any(result.errors.values()):
        raise BenchError(f"wrk against {name} under valgrind saw errors: {result.errors}")
    started = time.monotonic()
    time.sleep(loaded_s)
    idle_total = dump_instructions(process, dump)
    return Measured(total, result.requests, loaded_s, idle_total, time.monotonic() - started)


@dataclass(frozen=True)
class Counted:
    """Instructions per request of one scenario: the origin's, and bare aiohttp's where it is like for like."""

    key: str
    origin: Measured
    bare: Measured | None

    @property
    def ratio(self) -> float | None:
        return self.origin.net / self.bare.net if self.bare else None

    @property
    def raw_ratio(self) -> float | None:
        return self.origin.raw / self.bare.raw if self.bare else None


def count_instructions(stack: Stack, scenario: Scenario, small: Uploaded, args: argparse.Namespace) -> Counted:
    """Instructions per request of the origin and bare aiohttp under callgrind: a cost that does
    not move with the machine's load, unlike req/s and CPU time (user space only). Both servers are
    started for the scenario and stopped after it, so several scenarios can be counted in one run."""
    if shutil.which("valgrind") is None:
        raise BenchError("valgrind is not installed (apt-get install valgrind)")
    origin_out = stack.tmp / f"callgrind.origin.{scenario.key}"
    name = f"origin-callgrind-{scenario.key}"
    load = callgrind_load(args.callgrind_connections)
    counted, side = extra_origin(stack, scenario, name, wrapper=callgrind(origin_out))
    origin = instructions_per_request("origin", counted.process, side, origin_out, load)
    stack.procs.stop(counted.process)
    del stack.origins[name]  # stopped on purpose: not a server that died
    bare: Measured | None = None
    # bare answers as nginx does (same ETag), from memory: no cold case
    if scenario.bare is not None and not args.origin_only:
        bare_out = stack.tmp / f"callgrind.bare.{scenario.key}"
        stack.start_bare(small.path, wrapper=callgrind(bare_out))
        assert stack.bare_process is not None
        side = dataclasses.replace(scenario.bare, port=stack.bare_port)
        bare = instructions_per_request("bare", stack.bare_process, side, bare_out, load)
        stack.procs.stop(stack.bare_process)
        stack.bare_process = None
    print(
        f"\n{scenario.key}: instructions per request under callgrind (user space; wrk -t1 -c{load.connections} "
        f"-d{load.duration}s; then idle)",
        flush=True,
    )
    for label, m in (("origin", origin), ("bare aiohttp", bare)):
        if m is not None:
            print(
                f"  {label:<13} {m.net:>10,.0f} net  {m.raw:>10,.0f} raw  ({m.total:,} over {m.requests:,} requests "
                f"in {m.duration_s:.1f} s; idle {m.idle_total / max(m.idle_s, 0.001):,.0f}/s)"
            )
    result = Counted(scenario.key, origin, bare)
    if result.ratio is not None:
        target = INSTRUCTION_TARGETS.get(scenario.key)
        verdict = (
            "" if target is None else f" (target <= {target:.2f}x: {'PASS' if result.ratio <= target else 'FAIL'})"
        )
        print(f"  origin/bare   {result.ratio:.2f}x the instructions, net ({result.raw_ratio:.2f}x raw){verdict}")
    return result


def instructions_table(rows: Sequence[Counted]) -> str:
    """The scenarios counted in one run, side by side."""
    lines: list[Sequence[str]] = [
        ("scenario (instructions/request)", "origin net", "bare net", "origin/bare", "target", "origin raw", "bare raw",
         "raw ratio"),
    ]  # fmt: skip
    for row in rows:
        target, bare = INSTRUCTION_TARGETS.get(row.key), row.bare
        lines.append((
            row.key, f"{row.origin.net:,.0f}", f"{bare.net:,.0f}" if bare else "-",
            f"{row.ratio:.2f}x" if row.ratio is not None else "-", f"<= {target:.2f}x" if target else "-",
            f"{row.origin.raw:,.0f}", f"{bare.raw:,.0f}" if bare else "-",
            f"{row.raw_ratio:.2f}x" if row.raw_ratio is not None else "-",
        ))  # fmt: skip
    return table(lines)
