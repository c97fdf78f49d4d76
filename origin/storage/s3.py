"""S3 backend through aiobotocore: AWS S3, Cloudflare R2, Alibaba OSS, Tencent COS, MinIO.

Third-party S3 implementations differ from AWS in the corners, so the client asks for checksums
only where the API requires them and uses path-style addressing when an endpoint URL is given.
Large uploads go up in parts read from disk off the event loop, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from config import S3Settings
from origin.errors import ObjectMissing, StorageError
from origin.storage.base import ObjectInfo, check_key
from origin.storage.s3_get import SignedGet
from origin.storage.s3_session import BoundedReadSession

#: Longest wait for a read to start, retries included, unless configured (``PICORA_S3_FIRST_BYTE_TIMEOUT``):
#: botocore's own timeouts and retries add up to more than a client will wait for a 503 when
#: storage is blackholed.
FIRST_BYTE_SECONDS = 6.0
#: How much longer than that a whole (cacheable, at most a few MB) object may take to read.
WHOLE_READ_EXTRA_SECONDS = 2.0
#: Connections to storage at once. A large object streamed to a client holds one for the whole
#: download and a request still waiting for one after the first-byte bound is a 503, so this is how
#: many such downloads run at once (200 in bench/; each holds little memory, see s3_session). It
#: also keeps storage sockets well inside a 1024 open-file limit.
MAX_CONNECTIONS = 256
#: Objects up to this size go up in one PUT; larger ones as a multipart upload of parts this size.
PART_BYTES = 8 * 1024 * 1024

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_TRANSIENT = (BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _MISSING_CODES


def _read_part(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


@contextlib.asynccontextmanager
async def open_s3_client(settings: S3Settings) -> AsyncIterator[Any]:
    """One client (one connection pool) for the life of the app."""
    config = AioConfig(
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Bounded time to first byte when storage is down or blackholed; "standard" mode retries
        # throttling errors (SlowDown, 503) with backoff.
        retries={"max_attempts": 2, "mode": "standard"},
        connect_timeout=2,
        read_timeout=settings.first_byte_timeout_seconds * 2 / 3,
        max_pool_connections=MAX_CONNECTIONS,
        # A stream holds about one socket read (~250 KB) instead of up to ~750 KiB: see s3_session.
        http_session_cls=BoundedReadSession,
    )
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=config,
    ) as client:
        yield client


class S3Storage:
    """Objects in one bucket, under an optional key prefix."""

    def __init__(
        self, client: Any, bucket: str, prefix: str = "", *, first_byte_seconds: float = FIRST_BYTE_SECONDS
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.first_byte_seconds = first_byte_seconds
        self.gets = SignedGet(client, bucket)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        size = (await asyncio.to_thread(path.stat)).st_size
        try:
            if size <= PART_BYTES:
                body = await asyncio.to_thread(path.read_bytes)
                await self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=body, ContentType=content_type
                )
            else:
                await self._put_multipart(key, path, size, content_type)
        except (ClientError, *_TRANSIENT) as exc:
            raise StorageError(f"cannot store {key}: {exc}") from exc

    async def _put_multipart(self, key: str, path: Path, size: int, content_type: str) -> None:
        started = await self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self._key(key), ContentType=content_type
        )
        upload_id = started["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, size, PART_BYTES), start=1):
                body = await asyncio.to_thread(_read_part, path, offset, PART_BYTES)
                done = await self.client.upload_part(
                    Bucket=self.bucket, Key=self._key(key), UploadId=upload_id, PartNumber=number, Body=body
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            with contextlib.suppress(ClientError, *_TRANSIENT):
                await self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
            raise

    async def stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncGenerator[bytes, None]:
        extra: dict[str, str] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        full_key = self._key(key)
        try:
            async with asyncio.timeout(self.first_byte_seconds):
                # A 200/206 costs one signed request, ~3 ms less per read than get_object (see
                # s3_get); anything else is the full call's, with its retries and error mapping.
                body = await self.gets.open(full_key, extra.get("Range"))
                if body is None:
                    body = (await self.client.get_object(Bucket=self.bucket, Key=full_key, **extra))["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissing(key) from exc
            raise StorageError(f"cannot read {key}: {exc}") from exc
        except _TRANSIENT as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        except _TRANSIENT as exc:
            raise StorageError(f"read of {key} broke: {exc}") from exc
        finally:
            # Releases the pooled connection even when the consumer stops early (client gone).
            body.close()

    async def read(self, key: str) -> bytes:
        """Whole objects are the cacheable (small) ones: a read that drags on is a failed read."""
        try:
            async with asyncio.timeout(self.first_byte_seconds + WHOLE_READ_EXTRA_SECONDS):
                return b"".join([chunk async for chunk in self.stream(key, chunk_size=1024 * 1024)])
        except TimeoutError as exc:
            limit = self.first_byte_seconds + WHOLE_READ_EXTRA_SECONDS
            raise StorageError(f"reading {key} took longer than {limit}s") from exc

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if not _is_missing(exc):
                raise StorageError(f"cannot delete {key}: {exc}") from exc
        except _TRANSIENT as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    async def size(self, key: str) -> int | None:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        except _TRANSIENT as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        return int(head["ContentLength"])

    async def list_objects(self) -> AsyncIterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    yield ObjectInfo(name, int(item["Size"]), item["LastModified"].timestamp())
        except (ClientError, *_TRANSIENT) as exc:
            raise StorageError(f"cannot list bucket {self.bucket}: {exc}") from exc

    async def check(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, *_TRANSIENT) as exc:
            raise StorageError(f"bucket {self.bucket} is not reachable: {exc}") from exc
