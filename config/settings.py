"""Frozen settings loaded as defaults < TOML file at ``PICORA_CONFIG`` < ``PICORA_*`` environment.

Every problem found is collected and reported at once (one ``SettingsError``), so an operator
fixes a broken deployment in one round instead of one variable per restart.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from config.credentials import ENV_KEYS as ACCESS_ENV_KEYS
from config.credentials import AccessSettings, read_access
from config.plans import DEFAULT_PLANS, MIB, Plan, read_plans
from config.purge import ENV_KEYS as PURGE_ENV_KEYS
from config.purge import PurgeSettings, read_purge
from config.reader import FieldReader, string_list

StorageKind = Literal["fs", "s3"]


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where the S3-compatible bucket is; credentials come from the standard AWS variables."""

    bucket: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = ""
    #: Longest wait for a read to start, retries included; a far or slow store may need more.
    first_byte_timeout_seconds: float = 6.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the origin reads from its environment, validated."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    redis_url: str | None = None
    media_base_url: str = ""
    storage: StorageKind = "fs"
    s3: S3Settings = field(default_factory=S3Settings)
    plans: Mapping[str, Plan] = field(default_factory=lambda: dict(DEFAULT_PLANS))
    default_plan: str = "free"
    max_image_pixels: int = 89_478_485
    svg_max_bytes: int = 2 * MIB
    spool_chunk_bytes: int = 256 * 1024
    upload_grace_seconds: int = 3600
    access_log: bool = True
    log_format: str = "text"
    shutdown_timeout_seconds: float = 30.0
    max_concurrent_uploads: int = 16
    #: Variant renders running at once per process, and how many more may wait (past that: 503).
    render_threads: int = 2
    render_backlog: int = 8
    keepalive_timeout_seconds: float = 75.0
    upload_stall_seconds: float = 30.0
    workers: int = 1
    cache_bytes: int = 256 * MIB
    cache_max_object_bytes: int = 8 * MIB
    metadata_ttl_seconds: float = 5.0
    browser_max_age: int = 3600
    cdn_max_age: int = 31_536_000
    access: AccessSettings = field(default_factory=AccessSettings)
    purge: PurgeSettings = field(default_factory=PurgeSettings)

    @property
    def redis_dir(self) -> Path:
        """Where the embedded Redis keeps its socket and append-only file."""
        return self.data_dir / "redis"

    @property
    def objects_dir(self) -> Path:
        """Where the filesystem storage backend keeps objects."""
        return self.data_dir / "objects"

    @property
    def spool_dir(self) -> Path:
        """Where upload bodies are spooled before validation (same disk as objects)."""
        return self.data_dir / "spool"

    @property
    def public_url(self) -> str:
        """The origin's own URL (``PICORA_PUBLIC_URL``, else the media base URL)."""
        return self.access.sessions.public_url or self.media_base_url

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are ``Secure`` whenever the origin is reached over https."""
        return self.public_url.startswith("https://")

    def plan(self, name: str) -> Plan:
        """The named plan, or the default plan when the name is no longer configured."""
        return self.plans.get(name) or self.plans[self.default_plan]


class SettingsError(ValueError):
    """All configuration problems found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


#: Environment variable -> flat settings key. Flat keys match the TOML file's top level.
_ENV_KEYS: dict[str, str] = {
    "PICORA_HOST": "host",
    "PICORA_PORT": "port",
    "PICORA_DATA_DIR": "data_dir",
    "PICORA_REDIS_URL": "redis_url",
    "PICORA_MEDIA_BASE_URL": "media_base_url",
    "PICORA_STORAGE": "storage",
    "PICORA_S3_ENDPOINT_URL": "s3_endpoint_url",
    "PICORA_S3_BUCKET": "s3_bucket",
    "PICORA_S3_REGION": "s3_region",
    "PICORA_S3_PREFIX": "s3_prefix",
    "PICORA_S3_FIRST_BYTE_TIMEOUT": "s3_first_byte_timeout",
    "AWS_ACCESS_KEY_ID": "s3_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "s3_secret_access_key",
    "PICORA_DEFAULT_PLAN": "default_plan",
    "PICORA_MAX_IMAGE_PIXELS": "max_image_pixels",
    "PICORA_UPLOAD_GRACE_SECONDS": "upload_grace_seconds",
    "PICORA_ACCESS_LOG": "access_log",
    "PICORA_LOG_FORMAT": "log_format",
    "PICORA_SHUTDOWN_TIMEOUT": "shutdown_timeout_seconds",
    "PICORA_MAX_CONCURRENT_UPLOADS": "max_concurrent_uploads",
    "PICORA_RENDER_THREADS": "render_threads",
    "PICORA_RENDER_BACKLOG": "render_backlog",
    "PICORA_KEEPALIVE_TIMEOUT": "keepalive_timeout_seconds",
    "PICORA_UPLOAD_STALL_TIMEOUT": "upload_stall_seconds",
    "PICORA_WORKERS": "workers",
    "PICORA_CACHE_BYTES": "cache_bytes",
    "PICORA_CACHE_MAX_OBJECT_BYTES": "cache_max_object_bytes",
    "PICORA_METADATA_TTL": "metadata_ttl_seconds",
    "PICORA_BROWSER_MAX_AGE": "browser_max_age",
    "PICORA_CDN_MAX_AGE": "cdn_max_age",
}


def _flatten_file(document: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """Turn the TOML document into flat keys; ``[s3] bucket`` becomes ``s3_bucket``."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key == "plans":
            continue
        if key in ("s3", "jwt") and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"{key}_{sub}"] = sub_value
        elif isinstance(value, Mapping):
            problems.append(f"{key}: unexpected table in config file")
        else:
            flat[key] = value
    return flat


def _valid_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _valid_redis_url(url: str) -> bool:
    return urlsplit(url).scheme in {"redis", "rediss", "unix", "redis+cluster", "redis+sentinel"}


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    read_file: Callable[[Path], bytes] = Path.read_bytes,
) -> Settings:
    """Build the settings from ``env`` (default: ``os.environ``) and the file it names."""
    env = os.environ if env is None else env
    problems: list[str] = []
    document: dict[str, Any] = {}
    config_path = env.get("PICORA_CONFIG")
    if config_path:
        try:
            document = tomllib.loads(read_file(Path(config_path)).decode("utf-8"))
        except OSError as exc:
            problems.append(f"PICORA_CONFIG: cannot read {config_path}: {exc.strerror}")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"PICORA_CONFIG: {config_path} is not valid TOML: {exc}")

    raw = _flatten_file(document, problems)
    env_keys = _ENV_KEYS | ACCESS_ENV_KEYS | PURGE_ENV_KEYS
    raw.update({key: env[var] for var, key in env_keys.items() if var in env})
    known = set(env_keys.values())
    problems.extend(f"{key}: unknown setting in config file" for key in sorted(set(raw) - known))

    r = FieldReader(raw)
    port = r.integer("port", 8080, low=0, high=65535)
    storage = r.text("storage", "fs")
    r.check(storage in ("fs", "s3"), f"storage: must be 'fs' or 's3', got {storage!r}")
    s3 = S3Settings(
        bucket=r.text("s3_bucket", ""),
        endpoint_url=r.optional_text("s3_endpoint_url"),
        region=r.text("s3_region", "us-east-1"),
        access_key_id=r.optional_text("s3_access_key_id"),
        secret_access_key=r.optional_text("s3_secret_access_key"),
        prefix=r.text("s3_prefix", ""),
        first_byte_timeout_seconds=r.seconds("s3_first_byte_timeout", 6.0, low=0.5, high=300.0),
    )
    if storage == "s3":
        r.check(bool(s3.bucket), "s3_bucket: PICORA_S3_BUCKET is required when PICORA_STORAGE=s3")
    if s3.endpoint_url is not None:
        r.check(_valid_http_url(s3.endpoint_url), f"s3_endpoint_url: not an http(s) URL: {s3.endpoint_url}")
    redis_url = r.optional_text("redis_url")
    if redis_url is not None:
        r.check(
            _valid_redis_url(redis_url),
            f"redis_url: expected redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://: {redis_url}",
        )
    media_base_url = (r.optional_text("media_base_url") or f"http://localhost:{port}").rstrip("/")
    r.check(_valid_http_url(media_base_url), f"media_base_url: not an http(s) URL: {media_base_url}")

    plans = read_plans(document, problems)
    default_plan = r.text("default_plan", "free")
    r.check(default_plan in plans, f"default_plan: no plan named {default_plan!r}")

    log_format = r.text("log_format", "text")
    r.check(log_format in ("text", "json"), f"log_format: must be text or json, got {log_format!r}")
    settings = Settings(
        host=r.text("host", "127.0.0.1"),
        port=port,
        data_dir=Path(r.text("data_dir", "./data")),
        redis_url=redis_url,
        media_base_url=media_base_url,
        storage="s3" if storage == "s3" else "fs",
        s3=s3,
        plans=plans,
        default_plan=default_plan,
        max_image_pixels=r.integer("max_image_pixels", 89_478_485, low=1),
        upload_grace_seconds=r.integer("upload_grace_seconds", 3600, low=60),
        access_log=r.boolean("access_log", True),
        log_format=log_format,
        shutdown_timeout_seconds=r.seconds("shutdown_timeout_seconds", 30.0, low=0, high=3600),
        max_concurrent_uploads=r.integer("max_concurrent_uploads", 16, low=1, high=10_000),
        render_threads=r.integer("render_threads", 2, low=1, high=256),
        render_backlog=r.integer("render_backlog", 8, low=0, high=10_000),
        keepalive_timeout_seconds=r.seconds("keepalive_timeout_seconds", 75.0, low=1, high=3600),
        upload_stall_seconds=r.seconds("upload_stall_seconds", 30.0, low=0.1, high=3600),
        workers=r.integer("workers", 1, low=1, high=256),
        cache_bytes=r.integer("cache_bytes", 256 * MIB, low=0),
        cache_max_object_bytes=r.integer("cache_max_object_bytes", 8 * MIB, low=0),
        metadata_ttl_seconds=r.seconds("metadata_ttl_seconds", 5.0, low=0, high=3600),
        browser_max_age=r.integer("browser_max_age", 3600, low=0),
        cdn_max_age=r.integer("cdn_max_age", 31_536_000, low=0),
        access=read_access(r, _valid_http_url),
        purge=read_purge(r, string_list(r, "purge_secrets")),
    )
    problems = problems + r.problems
    if problems:
        raise SettingsError(problems)
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy with some fields changed (tests and the CLI use it); still frozen."""
    return replace(settings, **changes)
