"""One whole run in order: start the stack, upload, the wrk scenarios (or one profile), memory, the checks."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence

import aiohttp
from common import BenchError, fetch, run_async
from images import Uploaded, noise_png, set_hotlink_rules, upload_all
from latency import cold_latency, latency_report
from logwatch import LogWatch, describe
from memory import MEMORY_ORIGIN_ENV, MemoryResult, memory_phase, memory_report
from profiling import count_instructions, instructions_table, profile_scenario
from report import cold_report, scenario_table, variant_line
from scenarios import BenchImages, Scenario, build_scenarios, run_scenarios, variant_file
from stack import COLD_ENV, HOTLINK_DOMAIN, Origin, Stack, uses_uvloop
from variants import render_phase, render_report

#: Extra ~2 MB images uploaded only to fill the memory instance's body cache to its budget.
FILLER_IMAGES = 7
#: Scenarios that need images with variants (issue 12); the cold renders run when one of them is chosen.
VARIANT_KEYS = frozenset({"variant-320", "hit-12mp", "render-320"})


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


def wants(args: argparse.Namespace, keys: frozenset[str]) -> bool:
    """Whether the selected scenarios (``--only``, ``--instructions``, ``--profile``; all by default) need ``keys``."""
    if args.no_variants:
        return False
    chosen = args.instructions or args.profile or args.only
    return chosen is None or bool(keys & set(chosen.split(",")))


def upload_hotlinked(stack: Stack, origin: Origin) -> Uploaded:
    """A 50 KB PNG of a second user whose hotlink rules allow only HOTLINK_DOMAIN (no empty Referer).

    A user of its own, so the other scenarios' images stay unprotected. A request without a Referer
    must be refused (403), or the scenario would not measure a protected image.
    """
    key = stack.create_key(origin, user="bench-hotlink")
    run_async(set_hotlink_rules(origin.port, key, [HOTLINK_DOMAIN]))
    (image,) = run_async(upload_all(origin.port, key, [("hotlinked", noise_png(50_000, 128))]))
    refused = fetch(origin.port, image.path).status
    if refused != 403:
        raise BenchError(f"hotlink-protected {image.path} without a Referer answered {refused}, not 403")
    return image


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
    hotlinked = upload_hotlinked(stack, origin)
    for image in uploaded:
        (stack.nginx_root / f"{image.id}.png").write_bytes(image.data)
    (stack.nginx_root / "hotlink" / f"{hotlinked.id}.png").write_bytes(hotlinked.data)
    bench_images = BenchImages(small, medium, hotlinked)
    notes: list[str] = []
    if wants(args, VARIANT_KEYS):
        print(f"cold renders: {args.renders} fresh 12 MP JPEG uploads, each requested once at ?w=320 ...", flush=True)
        renders = render_phase(origin.port, key, args.renders)
        notes.append(render_report(renders))
        print("  " + ("variants not available" if renders.unavailable else "done"), flush=True)
        if renders.variant is not None:
            photo = renders.photos[0]
            bench_images = dataclasses.replace(bench_images, photo=photo, variant=renders.variant)
            (stack.nginx_root / photo.path.lstrip("/")).write_bytes(photo.data)
            (stack.nginx_root / variant_file(photo)).write_bytes(renders.variant)

    cold = stack.start_origin("origin-cold", COLD_ENV)
    if not args.profile and not args.instructions:
        stack.start_bare(small.path)  # after the files are in nginx's root: it loads them at start
    scenarios = build_scenarios(stack, bench_images, origin, cold)
    if args.instructions:
        keys = args.instructions.split(",")
        chosen = [s for k in keys for s in scenarios if s.key == k]
        if len(chosen) != len(keys):
            raise BenchError(f"no scenario {args.instructions!r}; one or more of {', '.join(s.key for s in scenarios)}")
        rows = [count_instructions(stack, scenario, small, args) for scenario in chosen]
        for note in notes:
            print("\n" + note)
        if len(rows) > 1:
            print("\n" + instructions_table(rows))
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
    if any(s.key == "cold-50k" for s in scenarios):
        print(f"\ncold miss latency: {args.latency_requests} sequential GETs each of the origin and S3 ...", flush=True)
        notes.insert(0, latency_report(cold_latency(stack, cold, small, args.latency_requests), len(small.data)))
    return finish(stack, args, scenarios, problems, logs, started, rest, small, medium, notes)


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
    notes: Sequence[str] = (),
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
    if variant_line(scenarios):
        print("\n" + variant_line(scenarios))
    for note in notes:
        print("\n" + note)
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
