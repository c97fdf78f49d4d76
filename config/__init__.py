"""Settings: read once, validated once, frozen for the life of the process."""

from config.plans import Plan
from config.settings import (
    S3Settings,
    Settings,
    SettingsError,
    load_settings,
)

__all__ = ["Plan", "S3Settings", "Settings", "SettingsError", "load_settings"]
