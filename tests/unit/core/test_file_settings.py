from __future__ import annotations

from pathlib import Path

import pytest

from storyloom.core.backups import DEFAULT_BACKUPS_KEPT
from storyloom.core.file_settings import RECENT_LIMIT, FileSettings
from storyloom.core.settings import MemoryStore


def test_recent_files_latest_first_without_duplicates(tmp_path: Path) -> None:
    files = FileSettings(MemoryStore())
    a, b = tmp_path / "a.md", tmp_path / "b.txt"
    files.remember(a)
    files.remember(b)
    files.remember(a)
    assert files.recent == [a, b]
    for n in range(RECENT_LIMIT + 5):
        files.remember(tmp_path / f"{n}.md")
    assert len(files.recent) == RECENT_LIMIT
    files.forget(tmp_path / f"{RECENT_LIMIT + 4}.md")
    assert tmp_path / f"{RECENT_LIMIT + 4}.md" not in files.recent
    files.clear_recent()
    assert files.recent == []


def test_a_single_recent_file_survives_the_ini_round_trip(tmp_path: Path) -> None:
    store = MemoryStore()
    FileSettings(store).remember(tmp_path / "only, one.md")
    store.data = {key: str(value) for key, value in store.data.items()}  # as INI reads back
    assert FileSettings(store).recent == [tmp_path / "only, one.md"]
    store.data["files/recent"] = "not json"
    assert FileSettings(store).recent == []


def test_backups_kept_default_bounds_and_bad_values() -> None:
    store = MemoryStore()
    files = FileSettings(store)
    assert files.backups_kept == DEFAULT_BACKUPS_KEPT
    files.set_backups_kept(3)
    assert files.backups_kept == 3
    files.set_backups_kept(DEFAULT_BACKUPS_KEPT)
    assert "files/backups_kept" not in store.data
    with pytest.raises(ValueError, match="0 to 100"):
        files.set_backups_kept(101)
    store.data["files/backups_kept"] = "many"
    assert files.backups_kept == DEFAULT_BACKUPS_KEPT
    store.data["files/backups_kept"] = "-4"
    assert files.backups_kept == 0
