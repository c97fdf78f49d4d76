"""In-process caches for the media path: bodies (byte-bounded LRU), metadata (TTL), single-flight."""
