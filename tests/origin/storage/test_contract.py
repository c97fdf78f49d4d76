"""One contract, every backend: the filesystem and S3 (moto's real HTTP server on loopback)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from origin.errors import ObjectMissing
from origin.storage import ObjectStorage
from origin.storage.filesystem import FilesystemStorage
from origin.storage.s3 import PART_BYTES, S3Storage, open_s3_client
from tests.conftest import s3_settings

KEY = "AbCdEfGhIjK.png"


@pytest.fixture(params=["fs", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[ObjectStorage]:
    if request.param == "fs":
        yield FilesystemStorage(tmp_path / "objects")
        return
    bucket = f"contract-{uuid.uuid4().hex[:10]}"
    async with open_s3_client(s3_settings(s3_endpoint, bucket)) as client:
        await client.create_bucket(Bucket=bucket)
        yield S3Storage(client, bucket, prefix="media/")


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"src-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path


async def _collect(storage: ObjectStorage, key: str, **kwargs: int | None) -> bytes:
    return b"".join([chunk async for chunk in storage.stream(key, **kwargs)])  # type: ignore[arg-type]


async def test_put_then_read_and_size(storage: ObjectStorage, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    await storage.put_file(KEY, _file(tmp_path, data), "image/png")
    assert await storage.read(KEY) == data
    assert await storage.size(KEY) == len(data)


async def test_put_replaces_an_existing_object(storage: ObjectStorage, tmp_path: Path) -> None:
    await storage.put_file(KEY, _file(tmp_path, b"first"), "image/png")
    await storage.put_file(KEY, _file(tmp_path, b"second"), "image/png")
    assert await storage.read(KEY) == b"second"


@pytest.mark.parametrize(
    ("start", "end", "chunk_size"),
    [(0, None, 4096), (0, 0, 4096), (10, 19, 4), (1000, None, 333), (99_999, 99_999, 10), (5, 50_000, 65536)],
)
async def test_stream_returns_exactly_the_requested_bytes(
    storage: ObjectStorage, tmp_path: Path, start: int, end: int | None, chunk_size: int
) -> None:
    data = os.urandom(100_000)
    await storage.put_file(KEY, _file(tmp_path, data), "image/png")
    got = await _collect(storage, KEY, start=start, end=end, chunk_size=chunk_size)
    assert got == data[start : (None if end is None else end + 1)]


async def test_missing_objects(storage: ObjectStorage) -> None:
    assert await storage.size(KEY) is None
    with pytest.raises(ObjectMissing):
        await storage.read(KEY)
    with pytest.raises(ObjectMissing):
        await _collect(storage, KEY)


async def test_delete_is_idempotent(storage: ObjectStorage, tmp_path: Path) -> None:
    await storage.put_file(KEY, _file(tmp_path, b"x"), "image/png")
    await storage.delete(KEY)
    await storage.delete(KEY)
    assert await storage.size(KEY) is None


async def test_list_objects_sees_every_object(storage: ObjectStorage, tmp_path: Path) -> None:
    keys = {"AAAAAAAAAAA.jpg", "BBBBBBBBBBB.png", "CCCCCCCCCCC.svg"}
    for key in keys:
        await storage.put_file(key, _file(tmp_path, key.encode()), "image/png")
    listed = [info async for info in storage.list_objects()]
    assert {info.key for info in listed} == keys
    assert all(info.size == len(info.key) for info in listed)
    assert all(abs(info.modified - time.time()) < 300 for info in listed)


@pytest.mark.parametrize("key", ["../etc/passwd", "AbCdEfGhIjK", "AbCdEfGhIj/.png", "", "AbCdEfGhIjK.PNG/x"])
async def test_keys_that_could_escape_are_refused(storage: ObjectStorage, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        await storage.put_file(key, _file(tmp_path, b"x"), "image/png")


async def test_check_passes_when_reachable(storage: ObjectStorage) -> None:
    await storage.check()


async def test_large_objects_go_up_in_parts_and_come_back_whole(storage: ObjectStorage, tmp_path: Path) -> None:
    data = os.urandom(PART_BYTES * 2 + 12345)
    await storage.put_file(KEY, _file(tmp_path, data), "image/png")
    assert await storage.size(KEY) == len(data)
    assert (
        await _collect(storage, KEY, start=PART_BYTES - 5, end=PART_BYTES + 4) == data[PART_BYTES - 5 : PART_BYTES + 5]
    )
