"""The recovery journal: snapshots, orphans left by a dead process, and the writer's choices."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from storyloom.core import paths
from storyloom.core.journal import (
    Journal,
    JournalEntry,
    PendingText,
    find_orphans,
    recovery_dir,
)
from storyloom.core.text_files import TextFormat

from other_process import WRITE_JOURNAL, other_process

STORY = "Maren rowed out at dusk.\nThe light was dark."


def entry(path: Path | None = None, text: str = STORY, pending: str = "") -> JournalEntry:
    return JournalEntry(
        text=text,
        path=path,
        format=TextFormat("cp1252", "\r\n"),
        pending=PendingText(len(text), pending) if pending else None,
        changed_at=time.time(),
    )


def test_the_journal_lives_in_the_apps_data_folder() -> None:
    assert recovery_dir() == paths.data_dir() / "recovery"
    assert Journal().file.parent == recovery_dir()


def test_an_entry_round_trips(tmp_path: Path) -> None:
    original = entry(tmp_path / "story.md", pending=" She climbed. 😀")
    assert JournalEntry.from_bytes(original.to_bytes()) == original
    untitled = entry(None)
    assert JournalEntry.from_bytes(untitled.to_bytes()) == untitled
    assert untitled.title == "Untitled"
    raw = original.to_bytes()
    for bad in (b"{}", b"[1]", b'{"version": 99}', b"not json", b"", raw[:-1], raw + b"x"):
        with pytest.raises(ValueError):
            JournalEntry.from_bytes(bad)
    broken_format = raw.replace(b'"cp1252"', b'"ebcdic"')
    with pytest.raises(ValueError):
        JournalEntry.from_bytes(broken_format)


def test_a_live_journal_is_no_orphan_and_a_closed_one_is_gone() -> None:
    journal = Journal()
    journal.write(entry())
    assert journal.file.exists()
    assert find_orphans() == []  # this process holds it
    journal.close()
    assert not journal.file.exists()
    assert list(recovery_dir().iterdir()) == []


def crash_with_a_journal(story: Path) -> None:
    with other_process(WRITE_JOURNAL, str(story)) as writer:
        assert find_orphans() == []  # alive: not an orphan
        writer.kill()


def test_a_killed_process_leaves_an_orphan(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text("Typed before the crash.")
    crash_with_a_journal(story)
    [orphan] = find_orphans()
    assert orphan.entry.text == "Typed before the crash."
    assert orphan.entry.pending == PendingText(23, " Streamed.")
    assert orphan.entry.recovers_anything()  # the file lacks the pending text
    assert find_orphans() == []  # this process holds it now
    orphan.release()  # decide later
    [again] = find_orphans()
    again.forget()
    assert find_orphans() == []
    assert list(recovery_dir().iterdir()) == []


def test_discarding_keeps_a_copy(tmp_path: Path) -> None:
    crash_with_a_journal(tmp_path / "story.md")
    [orphan] = find_orphans()
    kept = orphan.discard()
    assert kept.parent == recovery_dir() / "discarded"
    assert JournalEntry.from_bytes(kept.read_bytes()).text == "Typed before the crash."
    assert find_orphans() == []


def test_an_unreadable_journal_is_kept_but_not_offered() -> None:
    folder = recovery_dir()
    folder.mkdir(parents=True)
    damaged = folder / "0123.json"
    damaged.write_bytes(b"{ half a journal")
    assert find_orphans() == []
    assert damaged.exists()


def test_a_lock_left_without_a_journal_is_cleaned_up() -> None:
    folder = recovery_dir()
    folder.mkdir(parents=True)
    (folder / "0123.lock").write_bytes(b"")
    assert find_orphans() == []
    assert not (folder / "0123.lock").exists()


def test_what_counts_as_something_to_recover(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_bytes(STORY.replace("\n", "\r\n").encode("cp1252"))
    assert not entry(story).recovers_anything()  # the file says the same
    assert entry(story, text=STORY + " More.").recovers_anything()
    assert entry(story, pending=" A continuation.").recovers_anything()
    assert entry(tmp_path / "gone.md").recovers_anything()
    assert entry(None).recovers_anything()
    assert not entry(None, text="").recovers_anything()
