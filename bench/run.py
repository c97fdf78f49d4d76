"""``make bench``: the media origin against nginx on the same bytes, plus origin memory under load.

Starts everything it needs on 127.0.0.1 (redis-server, moto's S3 server, origin instances, nginx),
uploads noise PNGs (50 KB, 2 MB, 20 MB) through the API, runs wrk against the origin, nginx and a bare
aiohttp app serving the same files from memory (bench/bare_aiohttp.py: the ceiling for any aiohttp app)
alternately, then streams the 20 MB image to many concurrent clients while sampling the origin's RSS.
Every process it starts runs in its own process group and is killed on the way out, Ctrl-C included.

The work is in modules beside this one (bench/README.md, "Modules"); this file is the command line.
See bench/README.md for what each scenario means.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from common import BenchError
from driver import bench, cpu_pins
from stack import Processes, Stack


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server and scenario (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--downloads", type=int, default=200, help="concurrent downloads in the memory phase")
    parser.add_argument("--download-limit", type=float, default=60.0, help="seconds the memory phase may take")
    parser.add_argument(
        "--only", help="comma-separated scenario keys to run (default: all); render-320 for just the cold renders"
    )
    parser.add_argument("--renders", type=int, default=8, help="fresh 12 MP JPEGs rendered cold to w=320 (default 8)")
    parser.add_argument("--no-variants", action="store_true", help="skip the cold renders and variant scenarios")
    parser.add_argument(
        "--latency-requests", type=int, default=200, help="sequential cold GETs each of the origin and S3 (default 200)"
    )
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
        "origin and bare aiohttp for SCENARIO (or several, comma-separated) under valgrind's callgrind (steady "
        "whatever the load; ~1 min each)",
    )  # fmt: skip
    parser.add_argument(
        "--callgrind-connections", type=int, default=4, metavar="N", help="with --instructions: wrk's connections "
        "to the server under valgrind (default 4; 1 repeats within ~0.6%%, for comparing two versions of the code)",
    )  # fmt: skip
    parser.add_argument(
        "--origin-only", action="store_true", help="with --instructions: count the origin only, not bare aiohttp "
        "(its figure does not change with the origin's code)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.callgrind_connections < 1:
        parser.error("--callgrind-connections must be at least 1")
    if args.only_memory and (args.no_memory or args.profile):
        parser.error("--only-memory excludes --no-memory and --profile")
    if args.renders < 1 or args.latency_requests < 1:
        parser.error("--renders and --latency-requests must be at least 1")
    return args


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
