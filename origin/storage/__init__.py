"""Object storage behind one small interface; every backend passes the contract suite in ``tests/origin/storage``."""

from origin.storage.base import ObjectInfo, ObjectStorage

__all__ = ["ObjectInfo", "ObjectStorage"]
