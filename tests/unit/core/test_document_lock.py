"""The lock file beside a manuscript: taken, refused while its owner lives, taken over when
stale, released only by its owner."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storyloom.core import document_lock
from storyloom.core.document_lock import (
    DocumentLock,
    LockedByOther,
    LockOwner,
    lock_path,
    read_owner,
)
from storyloom.core.process_locks import process_alive, this_host

from other_process import HOLD_LOCK, other_process


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text("Once upon a time.")
    return path


def write_lock(story: Path, pid: int, host: str | None = None) -> None:
    owner = LockOwner(pid, host or this_host(), "someone", "2025-05-01T09:00:00")
    lock_path(story).write_bytes(owner.to_bytes())


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_lock_file_names_this_process(story: Path) -> None:
    lock = DocumentLock.acquire(story)
    assert lock is not None and lock.replaced is None
    assert lock.file == story.with_name(".story.md.storyloom-lock")
    data = json.loads(lock.file.read_text())
    assert (data["pid"], data["host"], data["app"]) == (os.getpid(), this_host(), "Storyloom")
    lock.release()
    assert not lock.file.exists()


def test_a_lock_held_by_a_live_process_is_refused(story: Path) -> None:
    with other_process("", str(story)) as holder:  # alive, and named by the lock file
        write_lock(story, holder.pid)
        with pytest.raises(LockedByOther) as caught:
            DocumentLock.acquire(story)
        assert caught.value.owner.pid == holder.pid
        assert f"Storyloom process {holder.pid}" in str(caught.value)
        # the writer may take it over deliberately
        lock = DocumentLock.acquire(story, take_over=True)
        assert lock is not None and lock.replaced == caught.value.owner
        assert read_owner(lock.file) == lock.owner


def test_a_stale_lock_is_taken_over(story: Path) -> None:
    pid = dead_pid()
    assert not process_alive(pid)
    write_lock(story, pid)
    lock = DocumentLock.acquire(story)
    assert lock is not None
    assert lock.replaced is not None and lock.replaced.pid == pid
    assert read_owner(lock.file) == lock.owner


def test_a_lock_from_another_host_counts_as_held(story: Path) -> None:
    write_lock(story, dead_pid(), host="another-laptop")
    with pytest.raises(LockedByOther) as caught:
        DocumentLock.acquire(story)
    assert "on another-laptop" in caught.value.owner.describe()


def test_a_garbled_lock_file_is_taken_over(story: Path) -> None:
    lock_path(story).write_bytes(b"")  # a crash while it was being written
    assert DocumentLock.acquire(story) is not None


def test_release_leaves_a_lock_someone_took_over(story: Path) -> None:
    lock = DocumentLock.acquire(story)
    assert lock is not None
    write_lock(story, os.getppid())
    lock.release()
    assert read_owner(lock_path(story)).pid == os.getppid()


def test_a_read_only_folder_opens_unlocked(story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(document_lock.os, "open", read_only)
    assert DocumentLock.acquire(story) is None


def test_a_second_instance_is_refused_until_the_first_is_killed(story: Path) -> None:
    with other_process(HOLD_LOCK, str(story)) as first:
        with pytest.raises(LockedByOther):
            DocumentLock.acquire(story)
        first.kill()
        lock = DocumentLock.acquire(story)  # its lock file is still there, but stale
    assert lock is not None and lock.replaced is not None
    assert lock.replaced.pid == first.pid
