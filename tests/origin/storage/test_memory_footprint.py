"""What a streamed object costs the origin in memory: a bounded read-ahead per S3 response, and no
imaging library loaded by a process that only serves (bench/ "Memory phase" measures the whole)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from origin.storage.s3 import S3Storage, open_s3_client
from origin.storage.s3_session import READ_BUFSIZE
from tests.conftest import s3_settings

ROOT = Path(__file__).resolve().parents[3]
KEY = "AbCdEfGhIjK.png"


async def test_s3_responses_read_ahead_at_most_twice_the_bounded_buffer(s3_endpoint: str) -> None:
    bucket = f"memory-{uuid.uuid4().hex[:10]}"
    data = os.urandom(3 * 1024 * 1024)
    async with open_s3_client(s3_settings(s3_endpoint, bucket)) as client:
        await client.create_bucket(Bucket=bucket)
        await client.put_object(Bucket=bucket, Key=KEY, Body=data)
        response = await client.get_object(Bucket=bucket, Key=KEY)
        body = response["Body"]
        try:
            # aiohttp's own default (256 KiB, so 512 KiB buffered before it pauses the socket) would
            # mean ~750 KiB per stream held whenever a client is slower than storage.
            assert body.raw_stream.content.get_read_buffer_limits() == (READ_BUFSIZE, 2 * READ_BUFSIZE)
        finally:
            body.close()
        # The bound changes nothing about what comes back, in chunks of any size.
        storage = S3Storage(client, bucket)
        assert b"".join([c async for c in storage.stream(KEY, chunk_size=64 * 1024)]) == data
        assert await storage.read(KEY) == data


def test_serving_does_not_load_the_imaging_libraries() -> None:
    """Pillow, pillow-heif and svg-hush are imported by the first upload that needs them, in its worker thread."""
    code = (
        "import sys, origin.app, origin.cli.main; "
        "print(sorted(m for m in ('PIL', 'PIL.Image', 'pillow_heif', 'py_svg_hush') if m in sys.modules))"
    )
    done = subprocess.run(  # a fresh interpreter: this one has long imported Pillow for the test images
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
