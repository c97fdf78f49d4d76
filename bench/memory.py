"""The memory phase: many concurrent downloads of a streamed image while the origin's RSS is sampled."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
from common import HOST, MIB, BenchError, fetch, healthy, run_async
from images import Uploaded
from stack import Origin, listen_overflows

#: The memory bound is the cache budget plus this.
MEMORY_HEADROOM = 150 * MIB
MEMORY_CACHE_BYTES = 16 * MIB
#: The memory instance: a small body cache, and a first-byte bound long enough for moto, which
#: serialises concurrent GETs of one object (a lock per key) and so starts the 200th response many
#: seconds after the first; with the default 6 s the slow starts are 503s and never stream at all.
MEMORY_ORIGIN_ENV = {"PICORA_CACHE_BYTES": str(MEMORY_CACHE_BYTES), "PICORA_S3_FIRST_BYTE_TIMEOUT": "90"}


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
