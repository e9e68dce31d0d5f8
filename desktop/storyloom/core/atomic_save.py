"""Saving without ever tearing a file: a temporary file, fsync, then an atomic replace.

Used for the manuscript, its backups and takes, the lock file and the recovery journal.

`atomic_write()` writes the new bytes to a temporary file in the file's own folder
(`os.replace` is atomic only within one file system), flushes and fsyncs it, gives it the old
file's permissions, replaces the file with it and fsyncs the folder so the rename itself
survives a power cut. Whatever fails, at whatever step, the path holds either the complete old
file or the complete new one, and the temporary file is removed. A process killed mid-save can
leave a temporary file behind; `remove_stale_temporaries()` tidies those up on the next open.

Failures become `SaveError`s that say what happened in the writer's words and whether saving
somewhere else (Save As) would help.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import glob
import os
import secrets
import stat
from pathlib import Path

TEMP_SUFFIX = ".storyloom-tmp"
_NEW_FILE_MODE = 0o666  # before the umask, as any editor creates files
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
# Out of space, or out of the user's quota (not every OS has EDQUOT).
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class SaveProblem(enum.Enum):
    FOLDER_NOT_WRITABLE = "folder not writable"
    FILE_READ_ONLY = "file read-only"
    DISK_FULL = "disk full"
    OTHER = "other"


class SaveError(Exception):
    """Saving failed and the file on disk is as it was; `str()` is the writer's message."""

    def __init__(self, problem: SaveProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem

    @property
    def offers_save_as(self) -> bool:
        """Whether saving to another place is the way out (not a full disk: it is full)."""
        return self.problem in (SaveProblem.FOLDER_NOT_WRITABLE, SaveProblem.FILE_READ_ONLY)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, atomically and durably; raises SaveError."""
    # Through a symlink, replace the file it points at rather than the link itself.
    target = Path(os.path.realpath(path))
    mode = _mode_for(target)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, _NEW_FILE_MODE)
    except OSError as exc:
        raise _save_error(target, exc) from exc
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            temp.chmod(mode)
        temp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise _save_error(target, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(target.parent)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files an interrupted save of `path` left beside it; return them.

    Call only while holding the document's lock: another Storyloom saving the same file at this
    moment would lose its temporary file.
    """
    target = Path(os.path.realpath(path))
    removed = []
    for temp in target.parent.glob(f".{glob.escape(target.name)}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp)
    return removed


def _mode_for(target: Path) -> int | None:
    """The permissions the new file gets (the old file's); raises SaveError if read-only."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _save_error(target, exc) from exc
    mode = stat.S_IMODE(info.st_mode)
    # The replace would succeed (it needs only the folder), but the writer (or a tool) marked
    # the file read-only: respect that, even for an administrator whom the OS lets through.
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise SaveError(
            SaveProblem.FILE_READ_ONLY,
            f"“{target.name}” is read-only, so Storyloom did not change it. Save it under "
            "another name (Save As), or make the file writable and save again.",
        )
    return mode


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Not possible on Windows or on some file systems; best effort."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _save_error(target: Path, exc: OSError) -> SaveError:
    name, folder = target.name, target.parent
    reason = exc.strerror or str(exc)
    if exc.errno in _DISK_FULL:
        return SaveError(
            SaveProblem.DISK_FULL,
            f"The disk is full, so “{name}” could not be saved ({reason}). The file on disk is "
            "unchanged. Free some space, then save again.",
        )
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return SaveError(
            SaveProblem.FOLDER_NOT_WRITABLE,
            f"Storyloom may not write in the folder {folder} ({reason}), so “{name}” was not "
            "saved. Save it somewhere else (Save As).",
        )
    return SaveError(
        SaveProblem.OTHER,
        f"“{name}” could not be saved: {reason}. The file on disk is unchanged.",
    )
