"""An object GET for the media path at the cost of one signed HTTP request.

aiobotocore's ``get_object`` spends more on itself than the GET takes on loopback: endpoint
rules, about twenty event hooks, the user-agent string, parameter validation and serialisation,
and parsing every response header into a typed dict (``LastModified`` through dateutil): ~3 ms per
read against moto on the bench's machine, where the whole raw GET takes ~6 ms (bench/README.md,
"Where a cold miss's time went"); the media path uses nothing of that dict but the body.

So a GET here is built once and signed by botocore itself: the URL is the one botocore's own
presigner produces for the bucket (path-style with an endpoint URL, virtual-hosted on AWS), the
signature comes from the client's own signer (``get_auth_instance``: same credentials, refreshed
as the client refreshes them, same region, SigV4), and the request goes out through the client's
own HTTP session (its pool, timeouts, proxies, TLS settings and bounded read-ahead, s3_session).

Only a 200 or 206 is taken from this path. Anything else (a missing key, a 503 SlowDown, a
redirect to another region, a refused connection) returns ``None`` and the caller makes
aiobotocore's full call, which parses the error, retries per the client's policy and raises
exactly what it always raised: errors keep one code path.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiobotocore.response import AioStreamingBody
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError
from botocore.utils import percent_encode

log = logging.getLogger(__name__)

#: The key presigned once to learn the bucket's URL; never requested.
_PROBE_KEY = "picora-url-probe"
#: S3's signature for object requests (the endpoint rules pick it for every S3-compatible store
#: the origin supports: AWS, R2, OSS, COS, MinIO).
_SIGNATURE_VERSION = "s3v4"


class SignedGet:
    """GETs of one bucket's objects, signed by the client's signer, sent through its HTTP session."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        #: The URL before the encoded key; ``None`` until learned, ``""`` when this path is off.
        self._base: str | None = None
        self._signer: Any = None
        self._http: Any = None

    async def _learn_base(self) -> str | None:
        """The bucket's object URL prefix, from botocore's presigner (so its addressing rules decide),
        and the client's signer and HTTP session: aiobotocore (3.x) keeps them in private attributes,
        so an upgrade that moves them turns this path off (and tests/origin/storage fails), not reads.
        ``None``: not now (credentials not there yet, say), ask again next time."""
        try:
            self._signer = self.client._request_signer
            self._http = self.client._endpoint.http_session
        except AttributeError as exc:
            log.warning("signed S3 GETs are off, every read makes aiobotocore's full call: %s", exc)
            return ""
        try:
            url = await self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": _PROBE_KEY}, ExpiresIn=60
            )
        except BotoCoreError as exc:
            log.debug("signed S3 GETs wait: %s", exc)
            return None
        path = str(url).split("?", 1)[0]
        if not path.endswith("/" + _PROBE_KEY):
            log.warning("signed S3 GETs are off: unexpected object URL %s", path)
            return ""
        return path[: -len(_PROBE_KEY)]

    async def open(self, key: str, byte_range: str | None) -> AioStreamingBody | None:
        """The body of a 200 or 206 for ``key`` (the full S3 key), or ``None``: make the full call."""
        base = self._base
        if base is None:
            base = self._base = await self._learn_base()
        if not base:
            return None
        client = self.client
        headers = {"Range": byte_range} if byte_range is not None else {}
        request = AWSRequest("GET", base + percent_encode(key, safe="/~"), headers, stream_output=True)
        # What botocore's S3 signer reads from a request's context: the client's config (whether
        # to sign the payload over https), as in a call made by the client.
        request.context["client_config"] = client.meta.config
        try:
            auth = await self._signer.get_auth_instance(
                signing_name="s3", region_name=client.meta.region_name, signature_version=_SIGNATURE_VERSION
            )
            auth.add_auth(request)
            response = await self._http.send(request.prepare())
        except (BotoCoreError, aiohttp.ClientError, OSError) as exc:
            log.debug("signed GET of %s failed (%s): the full call retries", key, exc)
            return None
        raw = response.raw
        if response.status_code not in (200, 206):
            raw.release()
            return None
        return AioStreamingBody(raw, response.headers.get("content-length"))
