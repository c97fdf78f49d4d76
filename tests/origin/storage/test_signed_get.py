"""Reads of existing objects take one signed request (origin/storage/s3_get.py) that S3 accepts;
anything else goes through aiobotocore's full call and its errors."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiobotocore.session import get_session

from config import S3Settings
from origin.errors import ObjectMissing, StorageError
from origin.storage.s3 import S3Storage, open_s3_client
from tests.conftest import s3_settings
from tests.servers import run_moto_server

KEY = "AbCdEfGhIjK.png"


async def test_an_existing_object_is_read_through_the_signed_get(s3_endpoint: str) -> None:
    bucket = f"signed-{uuid.uuid4().hex[:10]}"
    data = os.urandom(50_000)
    async with open_s3_client(s3_settings(s3_endpoint, bucket)) as client:
        await client.create_bucket(Bucket=bucket)
        await client.put_object(Bucket=bucket, Key="a prefix/" + KEY, Body=data)
        storage = S3Storage(client, bucket, prefix="a prefix/")
        whole = await storage.gets.open("a prefix/" + KEY, None)
        assert whole is not None, "the signed GET is off: did an aiobotocore upgrade move the client's signer?"
        assert await whole.read() == data
        part = await storage.gets.open("a prefix/" + KEY, "bytes=10-19")
        assert part is not None
        assert await part.read() == data[10:20]
        # A missing key is left to the full call, which says what it is.
        assert await storage.gets.open("a prefix/NoSuchKey00.png", None) is None
        with pytest.raises(ObjectMissing):
            await storage.read("NoSuchKey00.png")


@pytest.fixture
async def checking_s3() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A moto that checks signatures, and an IAM user's key that may do anything."""
    with run_moto_server(unchecked_requests=3) as endpoint:
        async with get_session().create_client(
            "iam", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ) as iam:  # fmt: skip
            await iam.create_user(UserName="origin")
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            await iam.put_user_policy(UserName="origin", PolicyName="all", PolicyDocument=json.dumps(policy))
            key = (await iam.create_access_key(UserName="origin"))["AccessKey"]
        yield endpoint, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


async def test_s3_accepts_the_signed_get_and_refuses_a_wrong_secret(checking_s3: tuple[str, dict[str, str]]) -> None:
    endpoint, key = checking_s3
    bucket = f"checked-{uuid.uuid4().hex[:10]}"
    good = S3Settings(bucket=bucket, endpoint_url=endpoint, access_key_id=key["id"], secret_access_key=key["secret"])
    async with open_s3_client(good) as client:
        await client.create_bucket(Bucket=bucket)
        await client.put_object(Bucket=bucket, Key=KEY, Body=b"signed bytes")
        storage = S3Storage(client, bucket)
        body = await storage.gets.open(KEY, None)
        assert body is not None
        assert await body.read() == b"signed bytes"
        assert await storage.read(KEY) == b"signed bytes"
    bad = S3Settings(bucket=bucket, endpoint_url=endpoint, access_key_id=key["id"], secret_access_key="not the secret")
    async with open_s3_client(bad) as client:
        storage = S3Storage(client, bucket)
        assert await storage.gets.open(KEY, None) is None
        with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
            await storage.read(KEY)
