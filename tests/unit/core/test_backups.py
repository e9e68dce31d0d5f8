"""Rotating backups in the sidecar folder: the version a save replaces, the newest N kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from storyloom.core import backups
from storyloom.core.atomic_save import SaveError, SaveProblem
from storyloom.core.backups import backups_dir, keep_backup, list_backups, save_with_backup


def test_each_save_keeps_the_version_it_replaces(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    for n in range(1, 5):
        assert save_with_backup(story, f"version {n}".encode(), keep=10) is None
    assert story.read_text() == "version 4"
    kept = list_backups(story)
    assert [path.read_text() for path in kept] == ["version 3", "version 2", "version 1"]
    assert all(path.parent == tmp_path / "story.md.storyloom" / "backups" for path in kept)
    assert all(path.name.startswith("story ") and path.suffix == ".md" for path in kept)


def test_only_the_newest_n_stay(tmp_path: Path) -> None:
    story = tmp_path / "story.txt"
    start = datetime(2025, 5, 1, 9, 0, 0)
    for n in range(7):
        keep_backup(story, f"v{n}".encode(), keep=3, now=start + timedelta(seconds=n))
    assert [p.read_text() for p in list_backups(story)] == ["v6", "v5", "v4"]
    assert list_backups(story)[0].name == "story 2025-05-01 09-00-06.000.txt"


def test_backups_in_the_same_millisecond_get_distinct_names(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    now = datetime(2025, 5, 1, 9, 0, 0)
    first = keep_backup(story, b"a", keep=5, now=now)
    second = keep_backup(story, b"b", keep=5, now=now)
    assert first != second
    assert second.name == "story 2025-05-01 09-00-00.000 (2).md"
    assert [p.read_text() for p in list_backups(story)] == ["b", "a"]


def test_saving_unchanged_text_keeps_no_duplicate(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    save_with_backup(story, b"one", keep=2)
    save_with_backup(story, b"two", keep=2)
    for _ in range(3):  # Ctrl+S pressed again and again
        save_with_backup(story, b"two", keep=2)
    assert [p.read_text() for p in list_backups(story)] == ["one"]


def test_zero_turns_backups_off(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    save_with_backup(story, b"one", keep=0)
    save_with_backup(story, b"two", keep=0)
    assert not backups_dir(story).exists()


def test_the_writers_own_files_in_the_folder_are_never_touched(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    folder = backups_dir(story)
    folder.mkdir(parents=True)
    notes = folder / "story notes.md"
    notes.write_text("mine")
    for n in range(4):
        keep_backup(story, f"v{n}".encode(), keep=1)
    assert notes.read_text() == "mine"
    assert len(list_backups(story)) == 1


def test_a_failed_backup_does_not_stop_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = tmp_path / "story.md"
    story.write_text("old")

    def no_room(*args, **kwargs):
        raise SaveError(SaveProblem.DISK_FULL, "The disk is full")

    monkeypatch.setattr(backups, "keep_backup", no_room)
    warning = save_with_backup(story, b"new", keep=5)
    assert story.read_text() == "new"
    assert warning is not None and "could not be backed up" in warning
