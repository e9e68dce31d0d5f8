"""The recovery journal: the latest state of each open manuscript, kept in the app's data folder.

Every window keeps one journal file, `<data dir>/recovery/<id>.json`, rewritten atomically with
a snapshot of the writer's text (and, marked apart, a continuation still pending) shortly after
every change. A snapshot rather than a log of edits: it is always complete on its own, a torn
write is impossible (temp file + replace), and recovery is reading one file.

Which journals are orphans (their Storyloom died) is decided by an OS lock on `<id>.lock` that
the owning process holds while it runs: the kernel drops it when the process dies, by SIGKILL or
power cut alike, and a new process can never inherit it the way it can inherit a PID.

A clean close deletes the journal. An orphan is only ever removed on the writer's decision
(recovered, saved elsewhere or discarded), and discarding keeps a copy in `discarded/`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from storyloom.core import paths
from storyloom.core.atomic_save import atomic_write
from storyloom.core.process_locks import HeldFile
from storyloom.core.text_files import FileProblem, TextFormat, read_manuscript

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1
DISCARDED_KEPT = 20


def recovery_dir() -> Path:
    return paths.data_dir() / "recovery"


@dataclass(frozen=True, slots=True)
class PendingText:
    """A continuation that was streaming or waiting for the writer's decision."""

    position: int  # where it stands in the writer's text (characters)
    text: str


@dataclass(frozen=True, slots=True)
class JournalEntry:
    text: str  # the writer's text, "\n" line endings, without the pending continuation
    path: Path | None  # the manuscript; None while it is untitled
    format: TextFormat = field(default_factory=TextFormat)  # how the manuscript file is stored
    pending: PendingText | None = None
    changed_at: float = 0.0  # time.time() of the newest change it holds

    @property
    def title(self) -> str:
        return self.path.name if self.path else "Untitled"

    def to_bytes(self) -> bytes:
        """A JSON header line, then the text and the pending text as raw UTF-8.

        Not one JSON document: escaping a novel's worth of text into JSON cost ~18 ms per
        snapshot on the GUI thread; encoding it as UTF-8 costs ~1 ms.
        """
        text = self.text.encode("utf-8")
        pending = self.pending.text.encode("utf-8") if self.pending else b""
        header = {
            "version": JOURNAL_VERSION,
            "path": str(self.path) if self.path else None,
            "encoding": self.format.encoding,
            "newline": self.format.newline,
            "changed_at": self.changed_at,
            "text_bytes": len(text),
            "pending_position": self.pending.position if self.pending else None,
            "pending_bytes": len(pending),
        }
        return json.dumps(header).encode("ascii") + b"\n" + text + pending

    @classmethod
    def from_bytes(cls, raw: bytes) -> JournalEntry:
        """Raises ValueError for anything that is not a whole journal this version can read."""
        line, _, body = raw.partition(b"\n")
        try:
            header = json.loads(line)
            if header.get("version") != JOURNAL_VERSION:
                raise ValueError(f"journal version {header.get('version')!r}")
            text_bytes, pending_bytes = int(header["text_bytes"]), int(header["pending_bytes"])
            if len(body) != text_bytes + pending_bytes:
                raise ValueError(f"{len(body)} bytes of text, the header says {text_bytes}+")
            text_format = TextFormat(str(header["encoding"]), str(header["newline"]))
            text_format.encoding_name, text_format.newline_name  # noqa: B018 - KeyError if unknown
            position = header["pending_position"]
            return cls(
                text=body[:text_bytes].decode("utf-8"),
                path=Path(header["path"]) if header["path"] else None,
                format=text_format,
                pending=PendingText(int(position), body[text_bytes:].decode("utf-8"))
                if position is not None
                else None,
                changed_at=float(header["changed_at"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a Storyloom journal: {exc!r}") from exc

    def recovers_anything(self) -> bool:
        """Whether it holds anything the manuscript file on disk does not."""
        if self.pending is not None and self.pending.text:
            return True
        if self.path is None:
            return bool(self.text)
        try:
            return read_manuscript(self.path, allow_large=True).text != self.text
        except FileProblem:  # gone or unreadable: the journal is all there is
            return True


class Journal:
    """One window's journal. Nothing is written (and no file made) before the first change."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or recovery_dir()
        self.id = uuid.uuid4().hex
        self.file = self.folder / f"{self.id}.json"
        self._hold: HeldFile | None = None

    def write(self, entry: JournalEntry) -> None:
        """Replace the journal with `entry`; raises SaveError or OSError when it cannot."""
        self.write_bytes(entry.to_bytes())

    def write_bytes(self, data: bytes) -> None:
        """`write()` for an entry already turned into bytes (`JournalEntry.to_bytes()`)."""
        if self._hold is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Held before the journal exists, so no scan can ever take it for an orphan.
            self._hold = HeldFile.try_hold(self.file.with_suffix(".lock"))
            if self._hold is None:  # pragma: no cover - a fresh random id is never held
                raise OSError(f"the journal lock {self.id} is held by another process")
        atomic_write(self.file, data)

    def clear(self) -> None:
        """The manuscript on disk holds everything: drop the journal (its lock stays ours)."""
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()

    def close(self) -> None:
        """The writer closed the manuscript deliberately: remove the journal and its lock."""
        self.clear()
        if self._hold is not None:
            self._hold.release(delete=True)
            self._hold = None


@dataclass
class Orphan:
    """A journal whose Storyloom is gone; held (locked) by this process until decided."""

    entry: JournalEntry
    file: Path
    hold: HeldFile

    def forget(self) -> None:
        """Its text is safe elsewhere now (recovered into a window, or saved): remove it."""
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
        self.hold.release(delete=True)

    def discard(self) -> Path:
        """The writer does not want it: move it to `discarded/` (the newest few stay)."""
        folder = self.file.parent / "discarded"
        folder.mkdir(exist_ok=True)
        kept = folder / self.file.name
        self.file.replace(kept)
        self.hold.release(delete=True)
        for old in sorted(folder.glob("*.json"), key=_mtime, reverse=True)[DISCARDED_KEPT:]:
            with contextlib.suppress(OSError):
                old.unlink()
        return kept

    def release(self) -> None:
        """Decide later: leave the journal for the next start."""
        self.hold.release()


def find_orphans(folder: Path | None = None) -> list[Orphan]:
    """Journals left by a Storyloom that is not running any more, newest change first.

    Each one stays locked by this process until `forget()`, `discard()` or `release()`.
    """
    folder = folder or recovery_dir()
    if not folder.is_dir():
        return []
    orphans = []
    for lock_file in folder.glob("*.lock"):
        if not lock_file.with_suffix(".json").exists():
            _remove_if_unheld(lock_file)  # its owner died before the first write
    for file in folder.glob("*.json"):
        hold = HeldFile.try_hold(file.with_suffix(".lock"))
        if hold is None:
            continue  # its Storyloom is running
        try:
            entry = JournalEntry.from_bytes(file.read_bytes())
        except FileNotFoundError:  # closed cleanly while we looked
            hold.release(delete=True)
            continue
        except (OSError, ValueError) as exc:
            # Never deleted: a person (or a later version) may still read it.
            log.warning("cannot read the recovery journal %s: %s", file, exc)
            hold.release()
            continue
        orphans.append(Orphan(entry, file, hold))
    orphans.sort(key=lambda orphan: orphan.entry.changed_at, reverse=True)
    return orphans


def _remove_if_unheld(lock_file: Path) -> None:
    hold = HeldFile.try_hold(lock_file)
    if hold is not None:
        hold.release(delete=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()
