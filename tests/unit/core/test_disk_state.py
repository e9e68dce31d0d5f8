"""Noticing a manuscript that changed on disk (and not a file that was merely touched)."""

from __future__ import annotations

import os
from pathlib import Path

from storyloom.core.disk_state import DiskChange, Fingerprint, check


def fingerprint(path: Path) -> Fingerprint:
    info = path.stat()
    return Fingerprint.of(info, path.read_bytes())


def test_unchanged_touched_changed_replaced_and_missing(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text("Chapter one.")
    known = fingerprint(story)
    assert check(story, known).change is DiskChange.SAME

    os.utime(story, ns=(1, 1))  # a sync tool touched it
    touched = check(story, known)
    assert touched.change is DiskChange.SAME
    assert touched.fingerprint is not None and touched.fingerprint.mtime_ns == 1

    story.write_text("Chapter one, rewritten elsewhere.")
    changed = check(story, known)
    assert changed.change is DiskChange.CHANGED
    assert changed.data == b"Chapter one, rewritten elsewhere."

    # Same size, same time, but another editor's atomic save: a new inode, new bytes.
    story.write_text("Chapter one.")
    known = fingerprint(story)
    info = story.stat()
    replacement = tmp_path / "tmp"
    replacement.write_text("Chapter two.")
    os.utime(replacement, ns=(info.st_atime_ns, info.st_mtime_ns))
    replacement.replace(story)
    assert check(story, known).change is DiskChange.CHANGED

    story.unlink()
    assert check(story, known).change is DiskChange.MISSING
