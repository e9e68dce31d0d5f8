"""The lock file beside an open manuscript: who has it open (PID, host, user, since when).

`story.md` is locked by `.story.md.storyloom-lock`, a small JSON file. A second Storyloom that
opens the same manuscript finds it and offers read-only; a lock whose process is dead on this
host (a crash) is stale and simply taken over. Locks from another host cannot be checked, so
they count as held; the writer can still take one over deliberately.

Where no lock file can be made (a read-only folder, a read-only medium) the manuscript opens
unlocked: nothing can be saved there anyway, and Save As will say so.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from storyloom.core.atomic_save import SaveError, atomic_write
from storyloom.core.process_locks import process_alive, this_host

LOCK_SUFFIX = ".storyloom-lock"


def lock_path(manuscript: Path) -> Path:
    return manuscript.with_name(f".{manuscript.name}{LOCK_SUFFIX}")


@dataclass(frozen=True, slots=True)
class LockOwner:
    pid: int
    host: str
    user: str
    since: str  # ISO time the lock was taken

    @classmethod
    def current(cls) -> LockOwner:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (containers)
            user = ""
        return cls(os.getpid(), this_host(), user, datetime.now().isoformat(timespec="seconds"))

    @property
    def is_this_process(self) -> bool:
        return self.pid == os.getpid() and self.host == this_host()

    @property
    def is_stale(self) -> bool:
        """Its process is gone (only knowable on this host)."""
        return self.host == this_host() and not process_alive(self.pid)

    def describe(self) -> str:
        who = f"{self.user} " if self.user else ""
        when = self.since.replace("T", " ")
        return f"{who}on {self.host} (Storyloom process {self.pid}), since {when}"

    def to_bytes(self) -> bytes:
        return json.dumps({"app": "Storyloom", **asdict(self)}, indent=1).encode("utf-8")


def read_owner(path: Path) -> LockOwner | None:
    """The owner a lock file names; None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_bytes())
        return LockOwner(int(data["pid"]), str(data["host"]), str(data["user"]), data["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class LockedByOther(Exception):
    def __init__(self, manuscript: Path, owner: LockOwner) -> None:
        super().__init__(f"“{manuscript.name}” is open in another Storyloom: {owner.describe()}")
        self.manuscript = manuscript
        self.owner = owner


class DocumentLock:
    """This process's lock on a manuscript; `release()` when the manuscript is closed."""

    def __init__(self, manuscript: Path, owner: LockOwner, replaced: LockOwner | None) -> None:
        self.manuscript = manuscript
        self.file = lock_path(manuscript)
        self.owner = owner
        self.replaced = replaced  # the stale (or taken-over) lock this one replaced

    @classmethod
    def acquire(cls, manuscript: Path, *, take_over: bool = False) -> DocumentLock | None:
        """Lock `manuscript`; raises LockedByOther; None where no lock file can be written."""
        file = lock_path(manuscript)
        me = LockOwner.current()
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        except OSError as exc:
            if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
                return None
            raise
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(me.to_bytes())
            return cls(manuscript, me, None)
        owner = read_owner(file)
        # An unreadable lock file is one a crash interrupted while it was being written.
        if owner is not None and not (owner.is_this_process or owner.is_stale or take_over):
            raise LockedByOther(manuscript, owner)
        try:
            atomic_write(file, me.to_bytes())
        except SaveError:
            return None
        return cls(manuscript, me, owner)

    def still_ours(self) -> bool:
        return read_owner(self.file) == self.owner

    def release(self) -> None:
        """Delete the lock file, unless someone has taken it over since."""
        if self.still_ours():
            with contextlib.suppress(OSError):
                self.file.unlink()
