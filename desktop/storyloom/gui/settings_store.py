"""QSettings as the store behind `storyloom.core.settings.AppSettings`.

The settings are an INI file in Storyloom's config folder on every OS (beside the writer's
profiles.json) rather than the registry or a plist: one place to find, back up or delete, and
one that the tests redirect simply by pointing the config folder elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from storyloom.core import paths
from storyloom.core.settings import AppSettings

SETTINGS_FILE = "settings.ini"


class QSettingsStore:
    def __init__(self, settings: QSettings) -> None:
        self.qsettings = settings

    def value(self, key: str) -> object | None:
        return self.qsettings.value(key)

    def set_value(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, value)
        self.qsettings.sync()  # a crash must not lose what the writer just chose

    def remove(self, key: str) -> None:
        self.qsettings.remove(key)
        self.qsettings.sync()


def open_settings(path: Path | None = None) -> AppSettings:
    """The writer's settings, from `path` (default: settings.ini in the config folder)."""
    path = path or paths.config_dir() / SETTINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return AppSettings(QSettingsStore(QSettings(str(path), QSettings.Format.IniFormat)))
