"""Rotating backups: each save keeps the version it replaces in the manuscript's sidecar folder.

`story.md` keeps its backups in `story.md.storyloom/backups/` as ordinary text files named by
time (`story 2025-05-01 14-03-22.123.md`), so a writer can open one in any editor. Only the
newest N are kept (N is a setting; 0 turns backups off). Files in that folder that do not match
the naming pattern are never touched.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime
from pathlib import Path

from storyloom.core.atomic_save import SaveError, atomic_write
from storyloom.core.paths import sidecar_dir

log = logging.getLogger(__name__)

BACKUP_FOLDER = "backups"
DEFAULT_BACKUPS_KEPT = 10
_TIME_FORMAT = "%Y-%m-%d %H-%M-%S"


def backups_dir(manuscript: Path) -> Path:
    return sidecar_dir(manuscript) / BACKUP_FOLDER


def list_backups(manuscript: Path) -> list[Path]:
    """The backups of `manuscript`, newest first."""
    folder = backups_dir(manuscript)
    if not folder.is_dir():
        return []
    pattern = _name_pattern(manuscript)
    found = []
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            found.append(((match["time"], int(match["n"] or 1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def keep_backup(manuscript: Path, data: bytes, keep: int, now: datetime | None = None) -> Path:
    """Store `data`, a version of `manuscript`, as its newest backup; keep only `keep` of them.

    Raises SaveError (or OSError for the folder) when the backup cannot be written.
    """
    folder = backups_dir(manuscript)
    folder.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now()
    stamp = f"{now.strftime(_TIME_FORMAT)}.{now.microsecond // 1000:03d}"
    stem, suffix = _stem_and_suffix(manuscript)
    path = folder / f"{stem} {stamp}{suffix}"
    n = 1
    while path.exists():  # two saves within a millisecond
        n += 1
        path = folder / f"{stem} {stamp} ({n}){suffix}"
    atomic_write(path, data)
    for old in list_backups(manuscript)[max(keep, 1) :]:
        with contextlib.suppress(OSError):
            old.unlink()
    return path


def save_with_backup(path: Path, data: bytes, keep: int) -> str | None:
    """Save `data` to `path` atomically, first backing up the version it replaces.

    Raises SaveError when the manuscript could not be saved (it is then unchanged). A backup
    that fails does not stop the save: the returned warning says so (None when all went well).
    """
    warning = None
    if keep > 0:
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            old = None
        except OSError as exc:
            old = None
            warning = f"The previous version could not be read for a backup ({exc.strerror})."
        if old is not None and old != data:  # saving unchanged text must not evict a backup
            try:
                keep_backup(path, old, keep)
            except (OSError, SaveError) as exc:
                log.warning("backup of %s failed: %s", path, exc)
                warning = f"The previous version could not be backed up: {exc}"
    atomic_write(path, data)
    return warning


def _stem_and_suffix(manuscript: Path) -> tuple[str, str]:
    return manuscript.stem, manuscript.suffix


def _name_pattern(manuscript: Path) -> re.Pattern[str]:
    stem, suffix = _stem_and_suffix(manuscript)
    return re.compile(
        rf"{re.escape(stem)} (?P<time>\d{{4}}-\d\d-\d\d \d\d-\d\d-\d\d\.\d{{3}})"
        rf"(?: \((?P<n>\d+)\))?{re.escape(suffix)}"
    )
