"""Object storage faults: moto S3 behind the fault proxy, down, blackholed, slow or cut mid-body.

What must hold: cached bodies are still served; the rest is a quick 503 (Retry-After, no-store).
A body cut mid-way reaches the client truncated, never short and complete-looking, and the next
request after recovery is complete.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from config import Settings
from config.settings import with_overrides
from tests import images
from tests.conftest import AiohttpClient, Origin, s3_settings, start_origin
from tests.fault_proxy import FaultProxy
from tests.origin.faults.harness import (
    FAULTS,
    STREAM_LIMIT,
    Answer,
    ask,
    report,
    served_problems,
    unavailable_problems,
    upload_ok,
)


async def test_the_first_byte_bound_is_configurable(
    s3_proxy: FaultProxy, aiohttp_client: AiohttpClient, settings: Settings, s3_bucket: str
) -> None:
    """``PICORA_S3_FIRST_BYTE_TIMEOUT``: a blackholed store answers 503 after that long, not after 6 s."""
    s3 = replace(s3_settings(f"http://{s3_proxy.address}", s3_bucket), first_byte_timeout_seconds=1.5)
    origin = await start_origin(aiohttp_client, with_overrides(settings, storage="s3", s3=s3))
    try:
        key = await origin.user(plan="bulk")
        path = await upload_ok(origin, key, images.noise_png(40, 34))
        await FAULTS["blackhole"](s3_proxy)
        answer = await ask(origin, "uncached image, store blackholed", path)
        assert not unavailable_problems(answer), unavailable_problems(answer)
        assert 1.4 < answer.seconds < 3.5, answer
    finally:
        await s3_proxy.forward()


@pytest.mark.parametrize("fault", ["down", "blackhole", "slow"])
async def test_storage_outage_cached_bodies_are_served_and_the_rest_gets_a_quick_503(
    s3_proxy: FaultProxy, s3_faulty: Origin, fault: str
) -> None:
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    cached_data, small_data, large_data = images.noise_png(40, 31), images.noise_png(40, 32), images.noise_png(200, 33)
    assert len(large_data) > STREAM_LIMIT > len(small_data)
    cached, small, large = [await upload_ok(origin, key, data) for data in (cached_data, small_data, large_data)]
    assert (await ask(origin, "warm-up", cached)).body == cached_data
    await FAULTS[fault](s3_proxy)
    hit, *misses = await asyncio.gather(
        ask(origin, "cached image", cached),
        ask(origin, "uncached small image", small),
        ask(origin, "uncached large (streamed) image", large),
    )
    report(f"storage {fault}", [hit, *misses])
    print(f"storage {fault}: worst 503 latency {max(answer.seconds for answer in misses):.2f}s")
    problems = served_problems(hit, cached_data)
    problems += [problem for answer in misses for problem in unavailable_problems(answer)]
    assert not problems, "\n".join(problems)


async def test_storage_cut_mid_body_truncates_a_streamed_image_and_the_next_request_is_complete(
    s3_proxy: FaultProxy, s3_faulty: Origin
) -> None:
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    large_data = images.noise_png(320, 41)  # ~300 KB: several chunks
    large = await upload_ok(origin, key, large_data)
    # The origin reads the first chunk before it answers (so a store failing at once is a clean
    # 503): slow the stream down, wait for the headers, then cut what is still to come.
    await s3_proxy.delay(0.1)
    response = await origin.client.get(large)
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(large_data))
    await s3_proxy.cut_after(0)
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    await s3_proxy.forward()
    again = await ask(origin, "the same image after recovery", large)
    problems = served_problems(again, large_data)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("cut", [1_000, 30_000, 120_000])
async def test_storage_cut_at_any_point_is_never_a_short_complete_answer(
    s3_proxy: FaultProxy, s3_faulty: Origin, cut: int
) -> None:
    """Cut before or after the origin answers: a clean 503 or a truncated 200, never bytes that
    look complete; the small (cacheable) image is read whole first, so it can only be a 503."""
    origin = s3_faulty
    key = await origin.user(plan="bulk")
    medium_data, large_data = images.noise_png(140, 51), images.noise_png(320, 52)
    assert len(medium_data) < STREAM_LIMIT < len(large_data)
    medium, large = [await upload_ok(origin, key, data) for data in (medium_data, large_data)]
    await s3_proxy.cut_after(cut)
    medium_answer = await ask(origin, "cacheable image cut", medium)
    response = await origin.client.get(large)
    try:
        body = await response.read()
    except aiohttp.ClientPayloadError:
        body = None
    print(f"cut after {cut} B: {medium_answer}; streamed image {response.status}, truncated={body is None}")
    problems = [] if cut > len(medium_data) + 1000 else unavailable_problems(medium_answer)
    if response.status == 200 and body is not None:
        problems.append(f"streamed image cut after {cut} B: complete-looking 200 of {len(body)} B")
    elif response.status != 200:
        problems += unavailable_problems(Answer("streamed image", response.status, response.headers, b"", 0))
    await s3_proxy.forward()
    for path, data in ((medium, medium_data), (large, large_data)):
        problems += served_problems(await ask(origin, f"{path} after recovery", path), data)
    assert not problems, "\n".join(problems)
