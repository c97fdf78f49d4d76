"""The Redis keys of images: records, listings, quota, reservations, the storage-delete queue.

Keys owned by other capabilities are defined beside the code that owns them (auth/: users, API
keys, hotlink rules, rate buckets, the signing key; origin/fanout/: the CDN purge queue and the
invalidation channel). README.md's "Data layout" lists every key of the product in one table.

Keys of one user carry the user id as a hash tag (``{alice}``), so that on a Redis Cluster a
user's quota, image records and listings share one slot and a Lua script may touch them together.
The quota key is the product contract's ``quota:img_storage:{userId}``: the braces are the hash tag.
"""

from __future__ import annotations


def quota(user_id: str) -> str:
    """Bytes stored plus bytes reserved by uploads in flight."""
    return f"quota:img_storage:{{{user_id}}}"


def pending(user_id: str) -> str:
    """Hash id -> "size:epoch" of quota reservations not yet committed (crash recovery)."""
    return f"pending:{{{user_id}}}"


def image(user_id: str, image_id: str) -> str:
    """Hash: one image's metadata."""
    return f"img:{{{user_id}}}:{image_id}"


def images(user_id: str) -> str:
    """Sorted set (all scores 0, ordered by member) of ``<created ms>:<id>``: newest last."""
    return f"images:{{{user_id}}}"


def tagged(user_id: str, tag: str) -> str:
    """Same members as ``images``, for the images carrying ``tag``."""
    return f"tag:{{{user_id}}}:{tag}"


def owner(image_id: str) -> str:
    """Image id -> owner. Written once with NX and never deleted: ids are never reused."""
    return f"imgid:{{{image_id}}}"


def variant_lease(image_id: str, width: int) -> str:
    """String with a short TTL: the process rendering this variant (one renders, the others wait)."""
    return f"variant-lease:{{{image_id}}}:{width}"


#: List of object keys whose storage delete failed; retried until it succeeds.
STORAGE_DELETE_QUEUE = "queue:storage-delete"

#: String: the token of the instance running the scheduled gc sweep; expires on its own.
GC_LEASE = "lease:gc"
