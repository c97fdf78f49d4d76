"""Settings: defaults < file < environment, every error reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings
from config.credentials import SessionSettings


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.port == 8080
    assert settings.data_dir == Path("./data")
    assert settings.redis_url is None
    assert settings.storage == "fs"
    assert settings.media_base_url == "http://localhost:8080"
    assert settings.plans["free"].max_file_bytes > 0
    assert settings.plans["free"].storage_bytes > 0


def test_media_base_url_defaults_to_the_port() -> None:
    assert load_settings({"PICORA_PORT": "9000"}).media_base_url == "http://localhost:9000"


def test_file_then_environment_override(tmp_path: Path) -> None:
    config = tmp_path / "picora.toml"
    config.write_text(
        """
port = 9001
storage = "s3"
media_base_url = "https://media.picora.me/"

[s3]
bucket = "from-file"
endpoint_url = "http://127.0.0.1:9000"
first_byte_timeout = 15

[plans.free]
storage_bytes = 1000

[plans.team]
max_file_bytes = 5000
storage_bytes = 100000
"""
    )
    settings = load_settings({"PICORA_CONFIG": str(config), "PICORA_S3_BUCKET": "from-env", "PICORA_PORT": "9002"})
    assert settings.port == 9002
    assert settings.storage == "s3"
    assert settings.s3.bucket == "from-env"
    assert settings.s3.endpoint_url == "http://127.0.0.1:9000"
    assert settings.s3.first_byte_timeout_seconds == 15.0
    assert load_settings({}).s3.first_byte_timeout_seconds == 6.0
    assert settings.media_base_url == "https://media.picora.me"
    assert settings.plans["free"].storage_bytes == 1000
    assert settings.plans["free"].max_file_bytes == 10 * 1024 * 1024
    assert settings.plans["team"].max_file_bytes == 5000


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('colour = "blue"\n[plans.x]\nmax_file_bytes = "lots"\nspeed = 3\n')
    env = {
        "PICORA_CONFIG": str(config),
        "PICORA_PORT": "eighty",
        "PICORA_STORAGE": "s3",
        "PICORA_REDIS_URL": "http://not-redis",
        "PICORA_MEDIA_BASE_URL": "ftp://x",
        "PICORA_ACCESS_LOG": "maybe",
        "PICORA_DEFAULT_PLAN": "gold",
        "PICORA_S3_FIRST_BYTE_TIMEOUT": "0",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    text = "\n".join(caught.value.problems)
    for fragment in ("port", "default_plan", "s3_bucket", "redis_url", "media_base_url", "access_log", "colour",
                     "plans.x.max_file_bytes", "plans.x.speed", "s3_first_byte_timeout"):  # fmt: skip
        assert fragment in text, fragment
    assert len(caught.value.problems) >= 10
    with pytest.raises(SettingsError, match="storage: must be 'fs' or 's3'"):
        load_settings({"PICORA_STORAGE": "gcs"})


def test_unreadable_and_invalid_config_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({"PICORA_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"PICORA_CONFIG": str(broken)})


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PICORA_CDN_PURGE_URL": "https://cdn.example/purge"}, "PICORA_CDN_PURGE_URL"),
        ({"PICORA_CLOUDFLARE_ZONE_ID": "zone", "PICORA_CLOUDFLARE_API_TOKEN": "t"}, "PICORA_CLOUDFLARE_ZONE_ID"),
        ({"PICORA_CDN_PURGE": "webhook", "PICORA_CDN_PURGE_URL": "https://cdn.example/purge",
          "PICORA_CDN_PURGE_SECRET": "s" * 32, "PICORA_CLOUDFLARE_API_TOKEN": "t"}, "PICORA_CLOUDFLARE_API_TOKEN"),
    ],
)  # fmt: skip
def test_cdn_settings_of_a_mode_not_chosen_are_refused_with_the_other_problems(env: dict[str, str], named: str) -> None:
    """Silently ignored, they would make an operator believe the CDN is purged when it is not."""
    with pytest.raises(SettingsError) as caught:
        load_settings({**env, "PICORA_PORT": "x"})
    problems = caught.value.problems
    assert any(named in problem and "PICORA_CDN_PURGE" in problem for problem in problems), problems
    assert any(problem.startswith("port:") for problem in problems), problems


def test_cdn_settings_of_the_chosen_mode_are_accepted() -> None:
    settings = load_settings({"PICORA_CDN_PURGE": "cloudflare", "PICORA_CLOUDFLARE_ZONE_ID": "zone",
                              "PICORA_CLOUDFLARE_API_TOKEN": "token"})  # fmt: skip
    assert settings.purge.cdn == "cloudflare"


def test_session_settings_are_read_and_checked() -> None:
    settings = load_settings(
        {
            "PICORA_SESSION_KEYS": "a" * 32 + "," + "b" * 32,
            "PICORA_SESSION_TTL": "3600",
            "PICORA_PUBLIC_URL": "https://picora.me/",
            "PICORA_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "PICORA_SIGN_IN_PER_MINUTE": "5",
        }
    )
    sessions = settings.access.sessions
    assert sessions.keys == ("a" * 32, "b" * 32)
    assert (sessions.ttl_seconds, sessions.sign_ins_per_minute) == (3600, 5)
    assert [str(n) for n in sessions.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert (settings.public_url, settings.secure_cookies) == ("https://picora.me", True)
    defaults = load_settings({"PICORA_MEDIA_BASE_URL": "http://media.example"})
    assert defaults.access.sessions == SessionSettings()
    assert (defaults.public_url, defaults.secure_cookies, defaults.access.sessions.ttl_seconds) == (
        "http://media.example",
        False,
        7 * 86400,
    )
    with pytest.raises(SettingsError) as error:
        load_settings(
            {
                "PICORA_SESSION_KEYS": "short",
                "PICORA_SESSION_TTL": "5",
                "PICORA_PUBLIC_URL": "ftp://x",
                "PICORA_TRUSTED_PROXIES": "not-an-ip",
            }
        )
    assert len(error.value.problems) == 4, error.value.problems
