"""Did the manuscript change on disk since Storyloom read or wrote it?

A `Fingerprint` is taken of the bytes Storyloom last read or wrote. `check()` compares the file
with it: a cheap stat first, and only when that differs a read and a hash, so touching a file
(a sync tool updating its time) is not mistaken for a change.
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Fingerprint:
    size: int
    mtime_ns: int
    inode: int  # another editor's atomic save gives the path a new inode
    sha256: str

    @classmethod
    def of(cls, info: os.stat_result, data: bytes) -> Fingerprint:
        """The fingerprint of a file whose stat (taken *before* reading it) is `info`.

        Stat first: a change between the stat and the read then shows up at the next check.
        """
        return cls(info.st_size, info.st_mtime_ns, info.st_ino, hashlib.sha256(data).hexdigest())

    def same_stat(self, info: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (
            info.st_size,
            info.st_mtime_ns,
            info.st_ino,
        )


class DiskChange(enum.Enum):
    SAME = "same"
    CHANGED = "changed"
    MISSING = "missing"  # deleted or moved away


@dataclass(frozen=True, slots=True)
class DiskCheck:
    change: DiskChange
    fingerprint: Fingerprint | None  # of the file as it is now (None when missing)
    data: bytes | None = None  # its bytes, when they had to be read


def check(path: Path, known: Fingerprint) -> DiskCheck:
    """Compare `path` with what Storyloom last read or wrote there."""
    try:
        info = path.stat()
        if known.same_stat(info):
            return DiskCheck(DiskChange.SAME, known)
        data = path.read_bytes()
    except FileNotFoundError:
        return DiskCheck(DiskChange.MISSING, None)
    except OSError:  # unreadable for now (permissions, a network drive gone): a save will say
        return DiskCheck(DiskChange.SAME, known)
    now = Fingerprint.of(info, data)
    change = DiskChange.SAME if now.sha256 == known.sha256 else DiskChange.CHANGED
    return DiskCheck(change, now, data)
