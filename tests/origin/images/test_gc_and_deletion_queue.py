"""Crash leftovers are reclaimed by gc; failed storage deletes are retried from a durable queue."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from origin.app_keys import DELETIONS, IMAGES, METADATA, REDIS, STORAGE
from origin.errors import StorageError
from origin.images.gc import collect_garbage
from origin.storage.filesystem import FilesystemStorage
from tests import images
from tests.conftest import Origin


async def test_gc_releases_abandoned_reservations_and_deletes_orphans_only(origin: Origin, tmp_path: Path) -> None:
    key = await origin.user()
    user = origin.keys[key]
    live = await origin.upload_ok(key, images.jpeg())
    metadata, storage, redis = origin.app[METADATA], origin.app[STORAGE], origin.app[REDIS]
    # A crash after reserving quota and writing the object, before the commit:
    crashed_id = await metadata.reserve_id(user)
    await metadata.reserve_quota(user, crashed_id, 1234, 10**9)
    source = tmp_path / "orphan"
    source.write_bytes(b"x" * 1234)
    await storage.put_file(f"{crashed_id}.png", source, "image/png")
    # An object nobody ever reserved:
    await storage.put_file("ZZZZZZZZZZZ.jpg", source, "image/jpeg")
    # An upload still in flight (recent reservation) must be left alone:
    inflight_id = await metadata.reserve_id(user)
    await metadata.reserve_quota(user, inflight_id, 10, 10**9)

    used_before = await metadata.used_bytes(user)
    report = await collect_garbage(redis, storage, grace_seconds=3600, now=time.time() + 3600 + 1)
    # Both reservations are older than the grace period at "now + 1h"; both released.
    assert report.reservations_released == 2
    assert report.bytes_released == 1244
    assert report.orphans_deleted == 2
    assert await metadata.used_bytes(user) == used_before - 1244 == live["sizeBytes"]
    assert await storage.size(f"{crashed_id}.png") is None
    assert await storage.size("ZZZZZZZZZZZ.jpg") is None
    assert await storage.size(f"{live['id']}.jpg") is not None
    assert (await origin.client.get(f"/{live['id']}.jpg")).status == 200


async def test_gc_leaves_recent_uploads_alone(origin: Origin, tmp_path: Path) -> None:
    key = await origin.user()
    user = origin.keys[key]
    metadata, storage = origin.app[METADATA], origin.app[STORAGE]
    inflight_id = await metadata.reserve_id(user)
    await metadata.reserve_quota(user, inflight_id, 5, 10**9)
    source = tmp_path / "f"
    source.write_bytes(b"12345")
    await storage.put_file(f"{inflight_id}.png", source, "image/png")
    report = await collect_garbage(origin.app[REDIS], storage, grace_seconds=3600)
    assert report.as_dict() == {
        "reservations_released": 0, "bytes_released": 0, "orphans_deleted": 0, "queued_deletes_done": 0,
    }  # fmt: skip
    assert await metadata.used_bytes(user) == 5


class FlakyDeletes(FilesystemStorage):
    """The real filesystem backend, whose deletes fail until ``healthy`` is set."""

    healthy = False

    async def delete(self, key: str) -> None:
        if not self.healthy:
            raise StorageError("simulated outage")
        await super().delete(key)


async def test_a_failed_storage_delete_is_queued_and_retried_until_done(origin: Origin) -> None:
    key = await origin.user()
    image = await origin.upload_ok(key, images.jpeg())
    service = origin.app[IMAGES]
    flaky = FlakyDeletes(origin.app[STORAGE].inner.root)  # type: ignore[attr-defined]
    service.storage = flaky
    deletions = origin.app[DELETIONS]
    deletions.storage = flaky
    response = await origin.client.delete(f"/v1/images/{image['id']}", headers=origin.auth(key))
    assert response.status == 200
    assert (await origin.client.get(f"/{image['id']}.jpg")).status == 404
    assert await deletions.pending() == [f"{image['id']}.jpg"]
    assert await deletions.drain() == 0
    assert await flaky.size(f"{image['id']}.jpg") is not None
    flaky.healthy = True
    assert await deletions.drain() == 1
    assert await deletions.pending() == []
    assert await flaky.size(f"{image['id']}.jpg") is None


async def test_gc_command_prints_its_report(redis_url: str, redis_client: object, tmp_path: Path) -> None:
    env = {**os.environ, "PICORA_REDIS_URL": redis_url, "PICORA_DATA_DIR": str(tmp_path / "data")}
    objects = tmp_path / "data" / "objects" / "QQ"
    objects.mkdir(parents=True)
    orphan = objects / "QQQQQQQQQQQ.png"
    orphan.write_bytes(b"orphan")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "origin.cli.main",
        "gc",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert '"orphans_deleted": 1' in stdout.decode()
    assert not orphan.exists()
