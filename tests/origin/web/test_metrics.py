"""/metrics: what an operator graphs, from the app's own registry (and summed over workers)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import requests
from redis.asyncio import Redis

from tests import images
from tests.conftest import Origin
from tests.processes import Server
from tests.servers import free_port


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in a Prometheus text exposition (labels matched as a subset)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_count_requests_uploads_refusals_storage_and_caches(origin: Origin) -> None:
    key = await origin.user(plan="tiny")
    image = await origin.upload_ok(key, images.png())
    # The upload's library-grid variant was rendered and stored meanwhile: count reads from here.
    uploaded = await (await origin.client.get("/metrics")).text()
    reads_before = value(uploaded, "picora_storage_operation_duration_seconds_count", operation="read")
    for _ in range(3):
        assert (await origin.client.get(f"/{image['id']}.png")).status == 200
    too_big = await origin.upload(key, images.noise_png(300))
    assert too_big.status == 413
    response = await origin.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    media_route = r"/{image_id}.{ext}"
    assert value(text, "picora_http_requests_total", route=media_route, method="GET", status="200") == 3
    assert value(text, "picora_http_request_duration_seconds_count", route=media_route) == 3
    assert value(text, "picora_uploads_total", format="png") == 1
    assert value(text, "picora_upload_bytes_total", format="png") == len(images.png())
    assert value(text, "picora_api_errors_total", code="PAYLOAD_TOO_LARGE") == 1
    # The image, and its variant (320 and 640 share one object for an image this small).
    assert value(text, "picora_storage_operation_duration_seconds_count", operation="put") == 2
    assert value(text, "picora_storage_operation_duration_seconds_count", operation="read") == reads_before + 1
    assert value(text, "picora_cache", cache="body", stat="hits") == 2
    assert value(text, "picora_cache", cache="body", stat="misses") == 1
    assert value(text, "picora_cache", cache="body", stat="bytes") == len(images.png())
    assert value(text, "picora_redis_operation_duration_seconds_count", operation="reserve_quota") == 1
    assert value(text, "picora_redis_operation_duration_seconds_count", operation="commit_upload") == 1
    assert value(text, "picora_redis_operation_duration_seconds_count", operation="metadata_lookup") == 1


def test_with_several_workers_any_worker_reports_the_sum(redis_url: str, redis_client: Redis, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICORA_")}
    env |= {
        "PICORA_REDIS_URL": redis_url,
        "PICORA_DATA_DIR": str(tmp_path / "data"),
        "PICORA_PORT": str(free_port()),
        "PICORA_WORKERS": "2",
        "PICORA_ACCESS_LOG": "off",
    }
    server = Server(env)
    try:
        server.wait_healthy()
        for _ in range(30):  # new connections: the kernel spreads them over the workers
            assert requests.get(f"{server.base}/readyz", timeout=5).status_code == 200
        totals = set()
        for _ in range(6):
            text = requests.get(f"{server.base}/metrics", timeout=5).text
            totals.add(value(text, "picora_http_requests_total", route="/readyz", status="200"))
        assert totals == {30.0}
    finally:
        assert server.stop() == 0


async def test_latency_buckets_add_up_and_unknown_methods_share_one_label(origin: Origin) -> None:
    for _ in range(5):
        assert (await origin.client.get("/healthz")).status == 200
    for method in ("PROPFIND", "MKCOL", "LOCK"):  # methods the HTTP parser knows, the app does not
        assert (await origin.client.request(method, "/healthz")).status == 405
    text = await (await origin.client.get("/metrics")).text()
    count = value(text, "picora_http_request_duration_seconds_count", route="/healthz")
    assert count == 5
    assert value(text, "picora_http_request_duration_seconds_bucket", route="/healthz", le="+Inf") == count
    assert value(text, "picora_http_request_duration_seconds_bucket", route="/healthz", le="10.0") == count
    assert 0 < value(text, "picora_http_request_duration_seconds_sum", route="/healthz") < 5 * 5.0
    # A method no route has is refused before routing: counted as unmatched, under one label.
    assert value(text, "picora_http_requests_total", route="unmatched", method="OTHER", status="405") == 3
    assert "PROPFIND" not in text


async def test_the_media_route_gets_the_pipeline_without_the_middleware(origin: Origin) -> None:
    """The media route runs the pipeline inline (OwnPipelineResource): ids, counts and the JSON error
    map are the same as on every other route, for answers, revalidations and errors alike."""
    key = await origin.user()
    image = await origin.upload_ok(key, images.png())
    path = f"/{image['id']}.png"
    hit = await origin.client.get(path, headers={"X-Request-ID": "cdn-1"})
    assert (hit.status, hit.headers["X-Request-ID"]) == (200, "cdn-1")
    revalidated = await origin.client.get(path, headers={"If-None-Match": hit.headers["ETag"]})
    assert revalidated.status == 304
    assert len(revalidated.headers["X-Request-ID"]) == 16
    missing = await origin.client.get(f"/{'A' * 11}.png", headers={"X-Request-ID": "cdn-2"})
    assert (missing.status, missing.headers["X-Request-ID"]) == (404, "cdn-2")
    assert (await missing.json())["error"]["code"] == "NOT_FOUND"
    wrong_method = await origin.client.post(path)
    assert wrong_method.status == 405
    assert "X-Request-ID" in wrong_method.headers
    assert (await wrong_method.json())["error"]["code"] == "METHOD_NOT_ALLOWED"
    text = await (await origin.client.get("/metrics")).text()
    media_route = r"/{image_id}.{ext}"
    assert value(text, "picora_http_requests_total", route=media_route, method="GET", status="200") == 1
    assert value(text, "picora_http_requests_total", route=media_route, method="GET", status="304") == 1
    assert value(text, "picora_http_requests_total", route=media_route, method="GET", status="404") == 1
    assert value(text, "picora_api_errors_total", code="NOT_FOUND") == 1
