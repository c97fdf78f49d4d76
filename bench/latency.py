"""The cold miss in latency: the origin's uncached 50 KB image against a raw S3 GET of the same object.

wrk's cold-50k rounds measure throughput under 50 connections, where moto's queue dominates. Issue 16
asks what the origin adds to one miss: sequential requests (one at a time, so neither side queues), the
origin with no body cache and no metadata memo (every request reads Redis and S3), and S3 through a
presigned URL of the same object on the same moto server, both from the same aiohttp client. The origin
also signs its S3 request and looks up Redis; the S3 side has neither: that difference is the point.

A third GET in each round goes to the bare aiohttp app for the same bytes from memory: the least
one aiohttp server in the path costs here, one request at a time after the others' idle gap (on
this VM a process woken from idle pays for it, so this is far more than the hop's CPU time). The
origin is such a hop in front of S3, so its addition cannot go below that figure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import boto3
from common import HOST, BenchError, run_async
from images import Uploaded
from report import table
from stack import AWS_KEYS, BUCKET, Origin, Stack

#: Issue 16: the origin adds at most this much to a cold miss at p50.
COLD_P50_BUDGET_MS = 2.0
#: Requests of each kind before the measured ones (connections, botocore's first-request work).
WARMUP = 5


@dataclass(frozen=True)
class Latencies:
    origin_ms: list[float]
    s3_ms: list[float]
    #: The bare aiohttp app's GET of the same bytes from memory (empty when it is not running).
    bare_ms: list[float]

    @property
    def added_p50_ms(self) -> float:
        return percentile(self.origin_ms, 50) - percentile(self.s3_ms, 50)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least ``pct`` per cent of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats going astray
    return ordered[int(rank) - 1]


def object_key(stack: Stack, image: Uploaded) -> str:
    """The S3 key the origin stored ``image`` under (found by listing: the bench does not know the layout;
    the image's variants, ``<id>.w160.webp`` and so on, sit beside it and are not it)."""
    client = boto3.client(
        "s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    name = image.path.rsplit("/", 1)[-1]
    found = [str(key) for key in keys if str(key).endswith(name) and image.id in key]
    if len(found) != 1:
        raise BenchError(f"cold latency: expected one S3 object for {image.id}, found {found}")
    return found[0]


def presigned_url(stack: Stack, key: str) -> str:
    client = boto3.client(
        "s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=AWS_KEYS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=AWS_KEYS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    return str(client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600))


async def timed_get(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    """Milliseconds from sending the request to the last byte of a checked 200."""
    started = time.perf_counter()
    async with session.get(url) as response:
        data = await response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200 or data != body:
        raise BenchError(f"cold latency: GET {url.split('?')[0]} answered {response.status} with {len(data)} bytes")
    return elapsed


async def measure(origin_url: str, s3_url: str, bare_url: str | None, body: bytes, count: int) -> Latencies:
    """``count`` requests of each, alternating origin, S3 and bare, so all see the same moments of a noisy machine."""
    result = Latencies([], [], [])
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for n in range(WARMUP + count):
            origin_ms = await timed_get(session, origin_url, body)
            s3_ms = await timed_get(session, s3_url, body)
            bare_ms = None if bare_url is None else await timed_get(session, bare_url, body)
            if n >= WARMUP:
                result.origin_ms.append(origin_ms)
                result.s3_ms.append(s3_ms)
                if bare_ms is not None:
                    result.bare_ms.append(bare_ms)
            await asyncio.sleep(0)
    return result


def cold_latency(stack: Stack, cold: Origin, image: Uploaded, count: int) -> Latencies:
    s3_url = presigned_url(stack, object_key(stack, image))
    bare_url = f"http://{HOST}:{stack.bare_port}{image.path}" if stack.bare_process is not None else None
    return run_async(measure(f"http://{HOST}:{cold.port}{image.path}", s3_url, bare_url, image.data, count))


def latency_report(latencies: Latencies, size: int) -> str:
    """The table of issue 16's cold-miss figure, with the budget's verdict."""
    o, s = latencies.origin_ms, latencies.s3_ms
    rows = [
        ("cold miss, sequential", "p50", "p99", "max", "requests"),
        ("origin (no caches)", f"{percentile(o, 50):.2f} ms", f"{percentile(o, 99):.2f} ms", f"{max(o):.2f} ms",
         str(len(o))),
        ("raw S3 GET (moto)", f"{percentile(s, 50):.2f} ms", f"{percentile(s, 99):.2f} ms", f"{max(s):.2f} ms",
         str(len(s))),
    ]  # fmt: skip
    b = latencies.bare_ms
    if b:
        rows.append(("bare aiohttp, from memory", f"{percentile(b, 50):.2f} ms", f"{percentile(b, 99):.2f} ms",
                     f"{max(b):.2f} ms", str(len(b))))  # fmt: skip
    added = latencies.added_p50_ms
    verdict = "PASS" if added <= COLD_P50_BUDGET_MS else "FAIL"
    floor = (
        f"\n  one aiohttp hop (bare, same bytes from memory) takes {percentile(b, 50):.2f} ms at p50 here: the least "
        f"any aiohttp server in front of S3 adds; the origin's own share beyond it: "
        f"{added - percentile(b, 50):+.2f} ms"
        if b
        else ""
    )
    return (
        f"Cold miss latency: the {size:,} B image, one request at a time, origin, S3 and bare aiohttp alternating "
        "(same client, same moto server)\n"
        + table(rows)
        + f"\n  origin adds {added:.2f} ms at p50 (target <= {COLD_P50_BUDGET_MS:.0f} ms) -> {verdict}"
        + floor
    )
