"""Purge settings: inbound webhook secrets, and which CDN to tell when an image must go."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from config.reader import FieldReader

CdnKind = Literal["none", "webhook", "cloudflare"]


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    #: Inbound ``POST /v1/purge`` HMAC secrets; several for rotation. None: the endpoint refuses all.
    secrets: tuple[str, ...] = ()
    replay_window_seconds: int = 300
    cdn: CdnKind = "none"
    cdn_url: str | None = None
    #: Signs outbound webhook purges; defaults to the first inbound secret.
    cdn_secret: str | None = None
    cloudflare_zone_id: str | None = None
    cloudflare_api_token: str | None = None
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    cloudflare_purge_tags: bool = False
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0

    @property
    def outbound_secret(self) -> str | None:
        return self.cdn_secret or (self.secrets[0] if self.secrets else None)


ENV_KEYS: dict[str, str] = {
    "PICORA_PURGE_SECRETS": "purge_secrets",
    "PICORA_PURGE_REPLAY_WINDOW": "purge_replay_window_seconds",
    "PICORA_CDN_PURGE": "cdn_purge",
    "PICORA_CDN_PURGE_URL": "cdn_purge_url",
    "PICORA_CDN_PURGE_SECRET": "cdn_purge_secret",
    "PICORA_CLOUDFLARE_ZONE_ID": "cloudflare_zone_id",
    "PICORA_CLOUDFLARE_API_TOKEN": "cloudflare_api_token",
    "PICORA_CLOUDFLARE_API_URL": "cloudflare_api_url",
    "PICORA_CLOUDFLARE_PURGE_TAGS": "cloudflare_purge_tags",
    "PICORA_CDN_RETRY_BASE_SECONDS": "cdn_retry_base_seconds",
}


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


#: Settings that only mean something with one ``cdn_purge`` mode, by mode.
_MODE_KEYS: dict[str, tuple[str, ...]] = {
    "webhook": ("cdn_purge_url", "cdn_purge_secret"),
    "cloudflare": ("cloudflare_zone_id", "cloudflare_api_token", "cloudflare_api_url", "cloudflare_purge_tags"),
}
_ENV_NAMES = {key: var for var, key in ENV_KEYS.items()}


def _is_set(value: object) -> bool:
    """Present and not explicitly off: an ``off`` that is ignored misleads nobody."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return value is not None and value is not False


def _refuse_settings_of_other_modes(r: FieldReader, cdn: str) -> None:
    """A CDN setting for a mode that is not the chosen one would be silently ignored, and the
    operator would believe the CDN is purged when it is not: refuse it (no guessing of the mode)."""
    for mode, keys in _MODE_KEYS.items():
        for key in keys:
            r.check(
                mode == cdn or not _is_set(r.raw.get(key)),
                f"{key}: {_ENV_NAMES[key]} is set but PICORA_CDN_PURGE is {cdn!r}, so it would be ignored "
                f"and nothing purged there; set PICORA_CDN_PURGE={mode} or unset {_ENV_NAMES[key]}",
            )


def read_purge(r: FieldReader, secrets: tuple[str, ...]) -> PurgeSettings:
    cdn = r.text("cdn_purge", "none")
    r.check(cdn in ("none", "webhook", "cloudflare"), f"cdn_purge: must be none, webhook or cloudflare, got {cdn!r}")
    if cdn in ("none", "webhook", "cloudflare"):
        _refuse_settings_of_other_modes(r, cdn)
    for index, secret in enumerate(secrets):
        r.check(len(secret.encode()) >= 32, f"purge_secrets[{index}]: must be at least 32 bytes")
    settings = PurgeSettings(
        secrets=secrets,
        replay_window_seconds=r.integer("purge_replay_window_seconds", 300, low=1, high=3600),
        cdn="webhook" if cdn == "webhook" else "cloudflare" if cdn == "cloudflare" else "none",
        cdn_url=r.optional_text("cdn_purge_url"),
        cdn_secret=r.optional_text("cdn_purge_secret"),
        cloudflare_zone_id=r.optional_text("cloudflare_zone_id"),
        cloudflare_api_token=r.optional_text("cloudflare_api_token"),
        cloudflare_api_url=r.text("cloudflare_api_url", "https://api.cloudflare.com/client/v4").rstrip("/"),
        cloudflare_purge_tags=r.boolean("cloudflare_purge_tags", False),
        retry_base_seconds=r.seconds("cdn_retry_base_seconds", 2.0, low=0.01, high=3600),
    )
    if settings.cdn == "webhook":
        r.check(
            settings.cdn_url is not None and _http_url(settings.cdn_url), "cdn_purge_url: an http(s) URL is required"
        )
        r.check(settings.outbound_secret is not None, "cdn_purge_secret: required (or set purge_secrets)")
    if settings.cdn == "cloudflare":
        r.check(bool(settings.cloudflare_zone_id), "cloudflare_zone_id: required with cdn_purge=cloudflare")
        r.check(bool(settings.cloudflare_api_token), "cloudflare_api_token: required with cdn_purge=cloudflare")
        r.check(_http_url(settings.cloudflare_api_url), "cloudflare_api_url: not an http(s) URL")
    return settings
