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

StorageKind = Literal["fs", "s3"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    """What one plan allows a user: largest single file and total stored bytes."""

    name: str
    max_file_bytes: int
    storage_bytes: int


#: Built-in plans; a config file may override them or add more under ``[plans.NAME]``.
DEFAULT_PLANS: dict[str, Plan] = {
    "free": Plan("free", max_file_bytes=10 * MIB, storage_bytes=500 * MIB),
    "pro": Plan("pro", max_file_bytes=50 * MIB, storage_bytes=100 * 1024 * MIB),
}


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where the S3-compatible bucket is; credentials come from the standard AWS variables."""

    bucket: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = ""


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
    workers: int = 1
    cache_bytes: int = 256 * MIB
    cache_max_object_bytes: int = 8 * MIB
    metadata_ttl_seconds: float = 5.0
    browser_max_age: int = 3600
    cdn_max_age: int = 31_536_000

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

    def plan(self, name: str) -> Plan:
        """The named plan, or the default plan when the name is no longer configured."""
        return self.plans.get(name) or self.plans[self.default_plan]


class SettingsError(ValueError):
    """All configuration problems found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Reader:
    """Collects values and errors from one merged mapping of raw settings."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def text(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str):
            self.problems.append(f"{key}: expected a string, got {value!r}")
            return default
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.problems.append(f"{key}: expected a string, got {value!r}")
            return None
        return value

    def integer(self, key: str, default: int, *, low: int, high: int | None = None) -> int:
        value = self.raw.get(key, default)
        try:
            number = _as_int(value)
        except ValueError:
            self.problems.append(f"{key}: expected an integer, got {value!r}")
            return default
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.problems.append(f"{key}: must be {bound}, got {number}")
            return default
        return number

    def seconds(self, key: str, default: float, *, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.problems.append(f"{key}: expected a number of seconds, got {value!r}")
            return default
        if not low <= number <= high:
            self.problems.append(f"{key}: must be between {low} and {high}, got {number}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        self.problems.append(f"{key}: expected on/off, got {value!r}")
        return default

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


def _as_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(value)


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
    "AWS_ACCESS_KEY_ID": "s3_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "s3_secret_access_key",
    "PICORA_DEFAULT_PLAN": "default_plan",
    "PICORA_MAX_IMAGE_PIXELS": "max_image_pixels",
    "PICORA_UPLOAD_GRACE_SECONDS": "upload_grace_seconds",
    "PICORA_ACCESS_LOG": "access_log",
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
        if key == "s3" and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"s3_{sub}"] = sub_value
        elif isinstance(value, Mapping):
            problems.append(f"{key}: unexpected table in config file")
        else:
            flat[key] = value
    return flat


def _read_plans(document: Mapping[str, Any], problems: list[str]) -> dict[str, Plan]:
    plans = dict(DEFAULT_PLANS)
    tables = document.get("plans", {})
    if not isinstance(tables, Mapping):
        problems.append("plans: expected tables [plans.NAME]")
        return plans
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            problems.append(f"plans.{name}: expected a table")
            continue
        base = plans.get(name, Plan(name, DEFAULT_PLANS["free"].max_file_bytes, 0))
        reader = _Reader(table)
        max_file = reader.integer("max_file_bytes", base.max_file_bytes, low=1)
        storage = reader.integer("storage_bytes", base.storage_bytes, low=0)
        unknown = set(table) - {"max_file_bytes", "storage_bytes"}
        problems.extend(f"plans.{name}.{p}" for p in reader.problems)
        problems.extend(f"plans.{name}.{key}: unknown setting" for key in sorted(unknown))
        plans[name] = Plan(name, max_file_bytes=max_file, storage_bytes=storage)
    return plans


def _valid_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _valid_redis_url(url: str) -> bool:
    return urlsplit(url).scheme in {"redis", "rediss", "unix"}


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
    raw.update({key: env[var] for var, key in _ENV_KEYS.items() if var in env})
    known = set(_ENV_KEYS.values())
    problems.extend(f"{key}: unknown setting in config file" for key in sorted(set(raw) - known))

    r = _Reader(raw)
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
    )
    if storage == "s3":
        r.check(bool(s3.bucket), "s3_bucket: PICORA_S3_BUCKET is required when PICORA_STORAGE=s3")
    if s3.endpoint_url is not None:
        r.check(_valid_http_url(s3.endpoint_url), f"s3_endpoint_url: not an http(s) URL: {s3.endpoint_url}")
    redis_url = r.optional_text("redis_url")
    if redis_url is not None:
        r.check(_valid_redis_url(redis_url), f"redis_url: expected redis://, rediss:// or unix://: {redis_url}")
    media_base_url = (r.optional_text("media_base_url") or f"http://localhost:{port}").rstrip("/")
    r.check(_valid_http_url(media_base_url), f"media_base_url: not an http(s) URL: {media_base_url}")

    plans = _read_plans(document, problems)
    default_plan = r.text("default_plan", "free")
    r.check(default_plan in plans, f"default_plan: no plan named {default_plan!r}")

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
        workers=r.integer("workers", 1, low=1, high=256),
        cache_bytes=r.integer("cache_bytes", 256 * MIB, low=0),
        cache_max_object_bytes=r.integer("cache_max_object_bytes", 8 * MIB, low=0),
        metadata_ttl_seconds=r.seconds("metadata_ttl_seconds", 5.0, low=0, high=3600),
        browser_max_age=r.integer("browser_max_age", 3600, low=0),
        cdn_max_age=r.integer("cdn_max_age", 31_536_000, low=0),
    )
    problems = problems + r.problems
    if problems:
        raise SettingsError(problems)
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy with some fields changed (tests and the CLI use it); still frozen."""
    return replace(settings, **changes)
