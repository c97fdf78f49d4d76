"""Filesystem backend: the embedded default, objects under the data directory.

Writes go to a temporary file and are renamed into place, so a reader never sees half an object.
All file I/O runs in the default executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

from origin.errors import ObjectMissing, StorageError
from origin.images.ids import OBJECT_KEY_PATTERN
from origin.storage.base import ObjectInfo, check_key


class FilesystemStorage:
    """Objects as files under ``root/<first two characters>/<key>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        await asyncio.to_thread(self._put_sync, self._path(key), path)

    @staticmethod
    def _put_sync(target: Path, source: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncGenerator[bytes, None]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot open {key}: {exc.strerror}") from exc
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    if remaining:
                        raise StorageError(f"{key} ended {remaining} bytes early")
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc
        finally:
            await asyncio.to_thread(handle.close)

    async def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc.strerror}") from exc

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._path(key).unlink, missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc.strerror}") from exc

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc.strerror}") from exc

    async def list_objects(self) -> AsyncIterator[ObjectInfo]:
        for info in await asyncio.to_thread(lambda: list(self._scan())):
            yield info

    def _scan(self) -> Iterator[ObjectInfo]:
        if not self.root.is_dir():
            return
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for entry in os.scandir(shard):
                if entry.is_file() and OBJECT_KEY_PATTERN.fullmatch(entry.name):
                    stat = entry.stat()
                    yield ObjectInfo(entry.name, stat.st_size, stat.st_mtime)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StorageError(f"{self.root} is not writable")

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise StorageError(f"{self.root}: {exc.strerror}") from exc
