"""Object storage behind one small interface; every backend passes ``tests/storage`` contract suite."""

from origin.storage.base import ObjectInfo, ObjectStorage

__all__ = ["ObjectInfo", "ObjectStorage"]
