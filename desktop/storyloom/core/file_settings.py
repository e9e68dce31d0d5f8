"""The writer's file settings: recently opened manuscripts and how many backups to keep.

Kept in the same store as the other settings (settings.ini), under `files/`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from storyloom.core.backups import DEFAULT_BACKUPS_KEPT
from storyloom.core.settings import SettingsStore

log = logging.getLogger(__name__)

RECENT_LIMIT = 10
MAX_BACKUPS_KEPT = 100
_RECENT_KEY = "files/recent"
_BACKUPS_KEY = "files/backups_kept"


class FileSettings:
    def __init__(self, store: SettingsStore) -> None:
        self.store = store

    @property
    def recent(self) -> list[Path]:
        """Recently opened manuscripts, the latest first."""
        raw = self.store.value(_RECENT_KEY)
        if raw is None:
            return []
        try:  # JSON: an INI list of one path would come back as a bare string
            paths = json.loads(str(raw))
            return [Path(path) for path in paths if isinstance(path, str)][:RECENT_LIMIT]
        except (ValueError, TypeError) as exc:
            log.warning("ignoring the stored recent files: %s", exc)
            return []

    def remember(self, path: Path) -> None:
        path = path.absolute()
        self._set_recent([path, *(p for p in self.recent if p != path)])

    def forget(self, path: Path) -> None:
        self._set_recent([p for p in self.recent if p != path.absolute()])

    def clear_recent(self) -> None:
        self.store.remove(_RECENT_KEY)

    def _set_recent(self, paths: list[Path]) -> None:
        self.store.set_value(_RECENT_KEY, json.dumps([str(p) for p in paths[:RECENT_LIMIT]]))

    @property
    def backups_kept(self) -> int:
        """How many earlier versions of a manuscript its saves keep (0: none)."""
        raw = self.store.value(_BACKUPS_KEY)
        try:
            value = DEFAULT_BACKUPS_KEPT if raw is None else int(str(raw))
        except ValueError:
            log.warning("ignoring the stored %s: %r", _BACKUPS_KEY, raw)
            return DEFAULT_BACKUPS_KEPT
        return min(max(value, 0), MAX_BACKUPS_KEPT)

    def set_backups_kept(self, count: int) -> None:
        if not 0 <= count <= MAX_BACKUPS_KEPT:
            raise ValueError(f"backups to keep must be 0 to {MAX_BACKUPS_KEPT}, not {count}")
        if count == DEFAULT_BACKUPS_KEPT:
            self.store.remove(_BACKUPS_KEY)
        else:
            self.store.set_value(_BACKUPS_KEY, count)
