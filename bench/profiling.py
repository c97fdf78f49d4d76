"""Where the origin's cost goes: cProfile (``--profile``) and callgrind's instruction counts (``--instructions``)."""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from common import BenchError, fetch
from images import Uploaded
from scenarios import Scenario, Side
from stack import COLD_ENV, Origin, Stack
from wrk import run_wrk


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
