"""Image metadata in Redis: records, per-user listings, quota reservations.

Every multi-key change is one Lua script over keys of one user (one hash slot), so a crash or a
concurrent request never sees half of it. Ordering of an upload (see ``origin.images.service``):
reserve id, reserve quota (recorded as pending), write the object, commit the record. A crash
leaves at worst a pending reservation and an orphan object, which ``picora-origin gc`` reclaims.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from auth.redis_types import RedisClient, text, text_dict, text_list
from origin.errors import BadRequest, QuotaExceeded, ServiceUnavailable
from origin.images import redis_keys as rk
from origin.images.ids import CURSOR_PATTERN, new_image_id


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One stored image, as the API and the media path see it."""

    id: str
    owner: str
    ext: str
    content_type: str
    filename: str
    size: int
    is_public: bool
    tags: tuple[str, ...]
    created_ms: int
    etag: str
    #: Upright pixels, recorded at upload; None for an SVG without any and for records older
    #: than variants (they were not recorded then).
    width: int | None = None
    height: int | None = None

    @property
    def object_key(self) -> str:
        return f"{self.id}.{self.ext}"

    @property
    def member(self) -> str:
        """Listing member: sorts by creation time, then id, so ties are still a total order."""
        return f"{self.created_ms:013d}:{self.id}"

    def to_hash(self) -> dict[str, str]:
        return {
            "id": self.id,
            "owner": self.owner,
            "ext": self.ext,
            "type": self.content_type,
            "filename": self.filename,
            "size": str(self.size),
            "public": "1" if self.is_public else "0",
            "tags": json.dumps(list(self.tags)),
            "created": str(self.created_ms),
            "etag": self.etag,
            "member": self.member,
            **({"width": str(self.width), "height": str(self.height)} if self.width and self.height else {}),
        }

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> ImageRecord:
        return cls(
            id=data["id"],
            owner=data["owner"],
            ext=data["ext"],
            content_type=data["type"],
            filename=data["filename"],
            size=int(data["size"]),
            is_public=data["public"] == "1",
            tags=tuple(json.loads(data["tags"])),
            created_ms=int(data["created"]),
            etag=data["etag"],
            width=int(data["width"]) if data.get("width") else None,
            height=int(data["height"]) if data.get("height") else None,
        )


_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local size = tonumber(ARGV[2])
if used + size > tonumber(ARGV[3]) then return {0, used} end
redis.call('INCRBY', KEYS[1], size)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[4])
return {1, used + size}
"""

_RELEASE = """
local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then return 0 end
redis.call('DECRBY', KEYS[1], tonumber(string.match(v, '^(%d+)')))
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

_COMMIT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], 0, ARGV[2]) end
return 1
"""

_DELETE = """
local rec = redis.call('HMGET', KEYS[1], 'tags', 'size', 'member')
if not rec[1] then return 0 end
if rec[1] ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('DECRBY', KEYS[2], rec[2])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], rec[3]) end
return 1
"""

_UPDATE = """
local rec = redis.call('HMGET', KEYS[1], 'tags', 'member')
if not rec[1] then return 0 end
if rec[1] ~= ARGV[1] then return -1 end
local nold = tonumber(ARGV[4])
if ARGV[2] ~= '' then
  for i = 2, 1 + nold do redis.call('ZREM', KEYS[i], rec[2]) end
  for i = 2 + nold, #KEYS do redis.call('ZADD', KEYS[i], 0, rec[2]) end
  redis.call('HSET', KEYS[1], 'tags', ARGV[2])
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'public', ARGV[3]) end
return 1
"""


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The listing member a cursor points after; 400 for anything we did not hand out."""
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        member = ""
    if not CURSOR_PATTERN.fullmatch(member):
        raise BadRequest("cursor is not one this API returned", code="INVALID_CURSOR")
    return member


class ConcurrentChange(ServiceUnavailable):
    """The record changed between read and write too many times in a row: retry shortly."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"image {image_id} is changing concurrently; retry", retry_after=1)


class MetadataRepository:
    """Image records, listings and quota, all in Redis."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
        self._commit = redis.register_script(_COMMIT)
        self._delete = redis.register_script(_DELETE)
        self._update = redis.register_script(_UPDATE)

    async def reserve_id(self, owner: str) -> str:
        """A fresh id, recorded forever so it can never be handed out again."""
        while True:
            image_id = new_image_id()
            if await self.redis.set(rk.owner(image_id), owner, nx=True):
                return image_id

    async def reserve_quota(self, owner: str, image_id: str, size: int, limit: int) -> None:
        ok, used = await self._reserve(
            keys=[rk.quota(owner), rk.pending(owner)], args=[image_id, size, limit, int(time.time())]
        )
        if not ok:
            raise QuotaExceeded(
                f"storing {size} bytes would exceed the img_storage quota of {limit} bytes",
                details={"quota": "img_storage", "usedBytes": int(used), "limitBytes": limit},
            )

    async def release_quota(self, owner: str, image_id: str) -> bool:
        return bool(await self._release(keys=[rk.quota(owner), rk.pending(owner)], args=[image_id]))

    async def commit(self, record: ImageRecord) -> bool:
        """Publish the record; False when its reservation is gone (reclaimed as abandoned)."""
        fields = [item for pair in record.to_hash().items() for item in pair]
        keys = [rk.pending(record.owner), rk.image(record.owner, record.id), rk.images(record.owner)]
        keys += [rk.tagged(record.owner, tag) for tag in record.tags]
        return bool(await self._commit(keys=keys, args=[record.id, record.member, *fields]))

    async def owner_of(self, image_id: str) -> str | None:
        return text(await self.redis.get(rk.owner(image_id)))

    async def get(self, image_id: str) -> ImageRecord | None:
        """The record for an id, whoever owns it (the media path)."""
        owner = await self.owner_of(image_id)
        return None if owner is None else await self.get_owned(owner, image_id)

    async def get_owned(self, owner: str, image_id: str) -> ImageRecord | None:
        data = text_dict(await self.redis.hgetall(rk.image(owner, image_id)))
        return ImageRecord.from_hash(data) if data else None

    async def list(
        self, owner: str, *, limit: int, cursor: str | None = None, tag: str | None = None
    ) -> tuple[list[ImageRecord], str | None]:
        """Newest first; the cursor is the last member seen, so inserts and deletes never shift a walk."""
        key = rk.tagged(owner, tag) if tag is not None else rk.images(owner)
        start = "(" + decode_cursor(cursor) if cursor else "+"
        found = await self.redis.zrange(key, start, "-", desc=True, bylex=True, offset=0, num=limit + 1)
        members = text_list(cast(list[bytes | str], found))
        page = members[:limit]
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in page:
                pipe.hgetall(rk.image(owner, member.split(":", 1)[1]))
            rows = [text_dict(row) for row in await pipe.execute()]
        records = [ImageRecord.from_hash(row) for row in rows if row]
        next_cursor = encode_cursor(page[-1]) if len(members) > limit else None
        return records, next_cursor

    async def update(
        self, owner: str, image_id: str, *, tags: Sequence[str] | None, is_public: bool | None
    ) -> tuple[ImageRecord, ImageRecord] | None:
        """Change tags and/or visibility: (before, after), or None when the image is not there."""
        for _ in range(10):
            current = await self.get_owned(owner, image_id)
            if current is None:
                return None
            new_tags = tuple(tags) if tags is not None else current.tags
            keys = [rk.image(owner, image_id)]
            keys += [rk.tagged(owner, t) for t in current.tags] + [rk.tagged(owner, t) for t in new_tags]
            args: list[Any] = [
                json.dumps(list(current.tags)),
                json.dumps(list(new_tags)) if tags is not None else "",
                "" if is_public is None else ("1" if is_public else "0"),
                len(current.tags),
            ]
            outcome = await self._update(keys=keys, args=args)
            if outcome == 0:
                return None
            if outcome == 1:
                after = replace(current, tags=new_tags, is_public=current.is_public if is_public is None else is_public)
                return current, after
        raise ConcurrentChange(image_id)

    async def delete(self, owner: str, image_id: str) -> ImageRecord | None:
        """Remove the record and give its bytes back to the quota, atomically; None if not there."""
        for _ in range(10):
            current = await self.get_owned(owner, image_id)
            if current is None:
                return None
            keys = [rk.image(owner, image_id), rk.quota(owner), rk.images(owner)]
            keys += [rk.tagged(owner, t) for t in current.tags]
            outcome = await self._delete(keys=keys, args=[json.dumps(list(current.tags))])
            if outcome == 0:
                return None
            if outcome == 1:
                return current
        raise ConcurrentChange(image_id)

    async def used_bytes(self, owner: str) -> int:
        return int(await self.redis.get(rk.quota(owner)) or 0)

    async def pending_reservations(self, owner: str) -> dict[str, tuple[int, int]]:
        """id -> (size, reserved at epoch seconds) for uploads not yet committed."""
        raw = text_dict(await self.redis.hgetall(rk.pending(owner)))
        return {key: (int(v.split(":")[0]), int(v.split(":")[1])) for key, v in raw.items()}
