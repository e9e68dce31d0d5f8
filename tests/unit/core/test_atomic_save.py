"""Atomic save: whatever fails, at whichever step, the file is the old one or the new one,
never a mix, and no temporary file is left behind."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storyloom.core import atomic_save
from storyloom.core.atomic_save import (
    TEMP_SUFFIX,
    SaveError,
    SaveProblem,
    atomic_write,
    remove_stale_temporaries,
)

OLD = b"The old chapter.\n" * 1000
NEW = b"The new chapter, longer.\n" * 3000


def leftovers(folder: Path) -> list[Path]:
    return list(folder.glob(f"*{TEMP_SUFFIX}"))


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_bytes(OLD)
    path.chmod(0o640)
    return path


def test_replaces_the_file_and_keeps_its_permissions(story: Path) -> None:
    atomic_write(story, NEW)
    assert story.read_bytes() == NEW
    assert story.stat().st_mode & 0o777 == 0o640
    assert not leftovers(story.parent)


def test_creates_a_new_file_with_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "new.md"
    atomic_write(path, NEW)
    assert path.read_bytes() == NEW
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_writes_through_a_symlink(story: Path) -> None:
    link = story.with_name("link.md")
    link.symlink_to(story)
    atomic_write(link, NEW)
    assert link.is_symlink()
    assert story.read_bytes() == NEW


def raise_errno(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize(
    ("step", "code", "problem"),
    [
        ("open", errno.EACCES, SaveProblem.FOLDER_NOT_WRITABLE),
        ("open", errno.EROFS, SaveProblem.FOLDER_NOT_WRITABLE),
        ("write", errno.ENOSPC, SaveProblem.DISK_FULL),
        ("fsync", errno.EIO, SaveProblem.OTHER),
        ("chmod", errno.EPERM, SaveProblem.FOLDER_NOT_WRITABLE),
        ("replace", errno.EXDEV, SaveProblem.OTHER),
        ("replace", errno.ENOSPC, SaveProblem.DISK_FULL),
    ],
)
def test_a_failure_at_any_step_leaves_the_old_file_whole(
    story: Path, monkeypatch: pytest.MonkeyPatch, step: str, code: int, problem: SaveProblem
) -> None:
    real_open = os.open
    if step == "open":
        # Only the temporary file's creation fails; reading the folder still works.
        def failing_open(path, flags, *args, **kwargs):
            if flags & os.O_CREAT:
                raise OSError(code, os.strerror(code))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(atomic_save.os, "open", failing_open)
    elif step == "write":
        real_write = os.write

        def write_some_then_fail(fd, data):
            if len(data) < len(NEW):  # the second call: half of the new text is out already
                raise OSError(code, os.strerror(code))
            return real_write(fd, bytes(data[: len(data) // 2]))

        monkeypatch.setattr(atomic_save.os, "write", write_some_then_fail)
    else:
        monkeypatch.setattr(atomic_save.os, step, raise_errno(code))

    with pytest.raises(SaveError) as caught:
        atomic_write(story, NEW)
    assert caught.value.problem is problem
    assert story.read_bytes() == OLD
    assert not leftovers(story.parent)
    assert "story.md" in str(caught.value)


def test_a_failing_folder_fsync_after_the_replace_still_leaves_the_new_file(
    story: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    calls = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the folder's, after the replace
            raise OSError(errno.EINVAL, "not supported")
        real_fsync(fd)

    monkeypatch.setattr(atomic_save.os, "fsync", fsync)
    atomic_write(story, NEW)
    assert story.read_bytes() == NEW
    assert len(calls) == 2


def test_messages_say_what_to_do(story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic_save.os, "write", raise_errno(errno.ENOSPC))
    with pytest.raises(SaveError) as caught:
        atomic_write(story, NEW)
    assert "disk is full" in str(caught.value)
    assert "unchanged" in str(caught.value)
    assert not caught.value.offers_save_as  # another folder on the same full disk won't help


def test_a_read_only_file_is_not_replaced(story: Path) -> None:
    # Checked on the permission bits, so even an administrator (whom the OS lets through)
    # does not overwrite a file the writer marked read-only.
    story.chmod(0o444)
    with pytest.raises(SaveError) as caught:
        atomic_write(story, NEW)
    assert caught.value.problem is SaveProblem.FILE_READ_ONLY
    assert caught.value.offers_save_as
    assert "Save As" in str(caught.value)
    assert story.read_bytes() == OLD


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_offers_save_as(story: Path) -> None:
    story.parent.chmod(0o555)
    try:
        with pytest.raises(SaveError) as caught:
            atomic_write(story, NEW)
    finally:
        story.parent.chmod(0o755)
    assert caught.value.problem is SaveProblem.FOLDER_NOT_WRITABLE
    assert caught.value.offers_save_as
    assert story.read_bytes() == OLD


def test_stale_temporaries_of_this_file_only_are_removed(story: Path) -> None:
    mine = story.with_name(f".story.md.1a2b3c4d{TEMP_SUFFIX}")
    other = story.with_name(f".other.md.1a2b3c4d{TEMP_SUFFIX}")
    for path in (mine, other):
        path.write_bytes(NEW[:100])
    assert remove_stale_temporaries(story) == [mine]
    assert other.exists()


SAVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from storyloom.core.atomic_save import atomic_write
    path = Path(sys.argv[1])
    versions = [bytes([65 + n]) * (200_000 + n * 5_000) for n in range(8)]
    n = 0
    print("ready", flush=True)
    while True:
        atomic_write(path, versions[n % 8])
        n += 1
    """
)


def test_sigkill_mid_save_never_tears_the_file(tmp_path: Path) -> None:
    """Kill a process that saves in a loop; the file is always one whole version."""
    path = tmp_path / "story.md"
    versions = {bytes([65 + n]) * (200_000 + n * 5_000) for n in range(8)}
    path.write_bytes(min(versions))
    rng = random.Random(6)
    for _ in range(5):
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert saver.stdout is not None and saver.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.3))
        saver.send_signal(signal.SIGKILL)
        assert saver.wait(10) == -signal.SIGKILL
        saver.stdout.close()
        assert path.read_bytes() in versions
        remove_stale_temporaries(path)
        assert not leftovers(tmp_path)
