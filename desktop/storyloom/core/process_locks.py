"""Which process owns what: "is this PID alive?" and file locks the OS drops when a process dies.

Two kinds of ownership, for two jobs:

* A lock *file* with a PID and a host (`storyloom.core.document_lock`) tells another program,
  or a writer looking at the folder, who has a manuscript open. It outlives a crash, so a lock
  whose PID is dead is stale.
* An OS lock (`HeldFile`: flock on POSIX, a byte-range lock on Windows) says "this process is
  alive and owns this". The kernel releases it when the process dies, however it dies, which is
  what the recovery journal needs: a PID can be reused after a reboot, a released lock cannot
  lie.
"""

from __future__ import annotations

import contextlib
import os
import socket
import weakref
from pathlib import Path

if os.name == "nt":
    import ctypes
    import msvcrt
else:
    import fcntl


def this_host() -> str:
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this machine (it may be another program)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class HeldFile:
    """An exclusive OS lock on a file, held until `release()` or the death of this process.

    Two holders in one process conflict too (each open file description locks on its own).
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        # Dropped without release() (its owner was garbage-collected): close the descriptor,
        # which is what the owner's death would have done.
        self._finalizer = weakref.finalize(self, os.close, fd)

    @classmethod
    def try_hold(cls, path: Path) -> HeldFile | None:
        """Lock `path` (created if missing); None when someone else holds it."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "nt":
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return cls(path, fd)

    def release(self, *, delete: bool = False) -> None:
        """Let go (and delete the file, while it is still ours, if `delete`)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        self._finalizer.detach()
        if delete and os.name != "nt":  # POSIX may unlink a locked file; nobody can take it
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(fd)  # closing drops the lock on both systems
        if delete and os.name == "nt":
            with contextlib.suppress(OSError):
                self.path.unlink()


def _windows_process_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    process_query_limited_information = 0x1000
    still_active = 259
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)
