"""The open manuscript: New, Open, Save, Save As, reload, close, and recovery after a crash.

It ties the editor to the Qt-free file logic in storyloom.core (text_files, backups,
atomic_save, document_lock, disk_state, journal) and asks the writer through `FilePrompts`.
What it promises:

* Saving writes the writer's text, never the pending continuation, atomically, keeping the
  version it replaces as a backup; a failed save leaves the file as it was and says why.
* Every change is in the recovery journal within a moment (`JournalKeeper`); an accepted
  continuation at once. A clean close removes the journal; a crash leaves it for
  `offer_recovery()` on the next start, which never drops text without the writer's choice.
* A manuscript is locked while open; a second Storyloom gets it read-only.
* A file changed by another program is noticed on focus and before saving, and never silently
  overwritten.

`opened`, `saved` and `pathChanged` say when a manuscript was opened or written at a path, for
whatever else keeps data per manuscript (its sidecar folder).
"""

from __future__ import annotations

import logging
from pathlib import Path

import platformdirs
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from storyloom.core import disk_state
from storyloom.core.atomic_save import SaveError, remove_stale_temporaries
from storyloom.core.backups import keep_backup, save_with_backup
from storyloom.core.disk_state import DiskChange, DiskCheck, Fingerprint
from storyloom.core.document_lock import DocumentLock, LockedByOther
from storyloom.core.file_settings import FileSettings
from storyloom.core.journal import Journal, JournalEntry, Orphan, find_orphans
from storyloom.core.text_files import (
    FileProblem,
    LoadedFile,
    ProblemKind,
    TextFormat,
    decode,
    encode,
    read_manuscript,
)
from storyloom.gui.controllers.autosave import JournalKeeper
from storyloom.gui.dialogs.file_prompts import DiskChoice, FilePrompts, LockChoice, UnsavedChoice
from storyloom.gui.dialogs.recovery_dialog import RecoveryDialog
from storyloom.gui.editor_text import editor_snapshot, replace_text
from storyloom.gui.widgets.story_editor import StoryEditor

log = logging.getLogger(__name__)

UNTITLED = "Untitled"


class ManuscriptController(QObject):
    pathChanged = Signal(object)  # Path | None: the manuscript now lives here (None: untitled)
    opened = Signal(object)  # Path: a manuscript was read from this path
    saved = Signal(object)  # Path: the manuscript was written to this path
    loaded = Signal()  # the editor holds another manuscript now (opened, new, recovered)
    stateChanged = Signal()  # title, unsaved mark or read-only changed
    notice = Signal(str, str)  # level ("info", "warning"), message: for the banner
    status = Signal(str)  # a passing status-bar message

    def __init__(
        self,
        editor: StoryEditor,
        prompts: FilePrompts,
        files: FileSettings,
        parent: QObject | None = None,
        journal: Journal | None = None,
    ) -> None:
        super().__init__(parent)
        self.editor = editor
        self.prompts = prompts
        self.files = files
        self.path: Path | None = None
        self.format = TextFormat()
        self.suggested_path: Path | None = None  # where an untitled recovered text came from
        self.recovery_dialog: RecoveryDialog | None = None
        self._lock: DocumentLock | None = None
        self._fingerprint: Fingerprint | None = None
        self._loading = False  # the editor changes because a file is loaded, not by writing
        # The writer's text as the file has it (None: not known to be what the file has), and
        # whether `modified` must compare the text with it: a pending continuation sets the
        # document's modified flag without being the writer's text.
        self._clean_text: str | None = ""
        self._compare_text = False
        self._asking_about_disk = False
        # The version on disk the writer closed the question about without deciding: closing it
        # gives the window the focus back, which must not ask again at once (saving still asks).
        self._dismissed_on_disk: str | None = None  # its SHA-256
        self._missing_noted = False
        self.keeper = JournalKeeper(self._journal_entry, journal or Journal(), self)
        self.keeper.failed.connect(lambda message: self.notice.emit("warning", message))
        document = editor.document()
        document.setModified(False)  # the editor's set-up (margins, font) counts as a change
        document.contentsChanged.connect(self._contents_changed)
        document.modificationChanged.connect(lambda _: self.stateChanged.emit())
        editor.pendingChanged.connect(self._pending_changed)

    # -- state --------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self.path.name if self.path else UNTITLED

    @property
    def modified(self) -> bool:
        """Whether the writer's text differs from the file (a pending continuation does not
        count: it is never saved)."""
        if not self.editor.document().isModified():
            return False
        if not self._compare_text or self._clean_text is None:
            return True
        return editor_snapshot(self.editor)[0] != self._clean_text

    @property
    def lock(self) -> DocumentLock | None:
        return self._lock

    def _contents_changed(self) -> None:
        if self._loading:
            return
        if not self.read_only:
            self.keeper.note_change()
        if self._compare_text and not self.editor.changing_pending:
            # The writer's own edit: the document's modified flag says it all from here on,
            # and the title must show it (the flag itself may have been set already).
            self._compare_text = False
            self.stateChanged.emit()

    def _pending_changed(self, pending: bool) -> None:
        if pending:
            self._compare_text = True
        elif not self._loading and not self.read_only:
            # A continuation was accepted (or rejected): journal it now, not after the pause.
            self.keeper.write_now()
        self.stateChanged.emit()  # the unsaved mark: it depends on what is pending

    def _mark_saved(self, text: str) -> None:
        """The file on disk now holds `text`, the writer's text in the editor."""
        self._clean_text = text
        self._compare_text = self.editor.has_pending()
        self.editor.document().setModified(False)

    def _journal_entry(self, changed_at: float) -> JournalEntry:
        text, pending = editor_snapshot(self.editor)
        return JournalEntry(text, self.path, self.format, pending, changed_at)

    # -- new, open, close -----------------------------------------------------------------------

    def new(self) -> bool:
        if not self.confirm_discard():
            return False
        self._install(None, "", TextFormat(), None, lock=None, read_only=False)
        return True

    def open(self, path: Path | None = None) -> bool:
        """Open `path` (or ask for one); False when nothing was opened."""
        if path is None:
            path = self.prompts.open_path(self._folder())
            if path is None:
                return False
        path = path.absolute()
        loaded = self._read(path)
        if loaded is None:
            return False
        if self._same_file(path):
            lock, read_only = self._lock, self.read_only  # reopening: keep what we hold
        else:
            outcome = self._lock_for(path)
            if outcome is None:
                return False
            lock, read_only = outcome
        if not self.confirm_discard():
            if lock is not None and lock is not self._lock:
                lock.release()
            return False
        if lock is not None:
            remove_stale_temporaries(path)  # left by a save that a crash interrupted
        self._install(path, loaded.text, loaded.format, loaded.fingerprint, lock, read_only)
        self.files.remember(path)
        notice = loaded.format.notice(path.name)
        if notice:
            self.notice.emit("warning" if loaded.format.needs_checking else "info", notice)
        self.opened.emit(path)
        return True

    def confirm_discard(self) -> bool:
        """Before the text in the editor goes: True once it is saved or the writer lets it go."""
        if not self.modified or self.read_only:
            return True
        choice = self.prompts.unsaved_changes(self.title)
        if choice is UnsavedChoice.SAVE:
            return self.save()
        return choice is UnsavedChoice.DISCARD

    def close_document(self) -> bool:
        """The window closes: ask about unsaved changes, then let go of the lock and journal."""
        if not self.confirm_discard():
            return False
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.keeper.close()
        return True

    def _read(self, path: Path) -> LoadedFile | None:
        try:
            return read_manuscript(path)
        except FileProblem as problem:
            if problem.kind is ProblemKind.TOO_LARGE:
                if not self.prompts.open_large_file(problem):
                    return None
                try:
                    return read_manuscript(path, allow_large=True)
                except FileProblem as again:
                    problem = again
            if problem.kind is ProblemKind.NOT_FOUND:
                self.files.forget(path)
            self.prompts.problem("Cannot open", str(problem))
            return None

    def _lock_for(self, path: Path) -> tuple[DocumentLock | None, bool] | None:
        """(lock, read-only) for opening `path`; None when the writer cancels."""
        try:
            lock = self._acquire_lock(path)
        except LockedByOther as held:
            choice = self.prompts.locked(path, held.owner)
            if choice is LockChoice.READ_ONLY:
                return None, True
            if choice is LockChoice.CANCEL:
                return None
            lock = self._acquire_lock(path, take_over=True)
        if lock is not None and lock.replaced is not None and not lock.replaced.is_this_process:
            self.status.emit(f"Took over the lock left by {lock.replaced.describe()}")
        return lock, False

    def _acquire_lock(self, path: Path, *, take_over: bool = False) -> DocumentLock | None:
        """Lock `path` (raises LockedByOther). Where the lock file cannot be written (an odd
        file system, an I/O error), the manuscript goes on unprotected, and the writer is told."""
        try:
            return DocumentLock.acquire(path, take_over=take_over)
        except OSError as exc:
            log.warning("cannot lock %s: %s", path, exc)
            self.notice.emit("warning", f"“{path.name}” could not be locked ({exc}).")
            return None

    @property
    def read_only(self) -> bool:
        """Open read-only (another Storyloom holds the file): the editor's own flag."""
        return self.editor.isReadOnly()

    def _install(
        self,
        path: Path | None,
        text: str,
        text_format: TextFormat,
        fingerprint: Fingerprint | None,
        lock: DocumentLock | None,
        read_only: bool,
    ) -> None:
        """Make `text` the editor's manuscript, stored at `path`."""
        if self._lock is not None and self._lock is not lock:
            self._lock.release()
        self.keeper.clear()  # the old text was saved, or the writer let it go
        self._loading = True
        try:
            self.editor.setPlainText(text)
            self._mark_saved(text)
        finally:
            self._loading = False
        self.editor.setReadOnly(read_only)
        self.path, self.format, self._fingerprint = path, text_format, fingerprint
        self._lock = lock
        self.suggested_path = None
        self._missing_noted = False
        self._dismissed_on_disk = None
        if read_only and path is not None:
            self.notice.emit(
                "warning",
                f"“{path.name}” is open in another Storyloom, so it is read-only here. Use "
                "Save As to keep a copy of your own.",
            )
        self.loaded.emit()
        self.pathChanged.emit(path)
        self.stateChanged.emit()

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> bool:
        if self.path is None or self.read_only:
            return self.save_as()
        if not self._disk_allows_save():
            return False
        if not self._write(self.path):
            return False
        self.saved.emit(self.path)
        return True

    def save_as(self) -> bool:
        target = self.prompts.save_path(self._suggestion())
        if target is None:
            return False
        target = target.absolute()
        if not target.suffix:
            target = target.with_suffix(".md")
        if self._same_file(target) and not self.read_only:
            return self.save()
        try:
            lock = self._acquire_lock(target)
        except LockedByOther as held:
            self.prompts.problem("Cannot save", str(held))
            return False
        if not self._write(target):
            if lock is not None:
                lock.release()
            return False
        if self._lock is not None:
            self._lock.release()
        self._lock, self.path = lock, target
        self.suggested_path = None
        self.editor.setReadOnly(False)
        self.files.remember(target)
        self.pathChanged.emit(target)
        self.stateChanged.emit()
        self.saved.emit(target)
        return True

    def _write(self, path: Path) -> bool:
        """Write the writer's text to `path`; on failure explain (and maybe offer Save As)."""
        text, pending = editor_snapshot(self.editor)
        data = encode(text, self.format)
        # Should this save be interrupted, the journal holds exactly what was being saved.
        self.keeper.write_now()
        try:
            warning = save_with_backup(path, data, self.files.backups_kept)
        except SaveError as error:
            message = f"{error} Your text is still here, and in the recovery journal."
            if self.prompts.save_failed(message, offer_save_as=error.offers_save_as):
                return self.save_as()
            return False
        try:
            self._fingerprint = Fingerprint.of(path.stat(), data)
        except OSError:
            self._fingerprint = None
        self.format = self.format.saved_as_utf8()
        self._mark_saved(text)
        self._missing_noted = False
        if pending is not None:
            self.keeper.write_now()  # the pending continuation is still only in the journal
        else:
            self.keeper.clear()
        if warning:
            self.notice.emit("warning", warning)
        self.status.emit(f"Saved “{path.name}”")
        return True

    # -- changed on disk ------------------------------------------------------------------------

    def check_disk(self) -> None:
        """The window got the focus back: has another program changed the file meanwhile?"""
        if self._asking_about_disk or self.path is None or self._fingerprint is None:
            return
        state = disk_state.check(self.path, self._fingerprint)
        if state.change is DiskChange.MISSING and not self._missing_noted:
            self._missing_noted = True
            self.notice.emit(
                "warning",
                f"“{self.path.name}” was deleted or moved by another program. Your text is "
                "still here: Save writes it again.",
            )
        elif state.change is DiskChange.CHANGED:
            assert state.fingerprint is not None
            if state.fingerprint.sha256 != self._dismissed_on_disk:
                self._ask_about_disk(state)
        elif state.fingerprint is not None:
            self._fingerprint = state.fingerprint  # touched, same bytes

    def _disk_allows_save(self) -> bool:
        if self._fingerprint is None or self.path is None:
            return True
        state = disk_state.check(self.path, self._fingerprint)
        if state.change is not DiskChange.CHANGED:
            return True  # unchanged, or gone (saving writes it again)
        return self._ask_about_disk(state) is DiskChoice.KEEP_MINE

    def _ask_about_disk(self, state: DiskCheck) -> DiskChoice:
        assert self.path is not None and state.data is not None
        try:
            theirs = decode(state.data, self.path.name)
        except FileProblem as problem:
            # Nothing to reload: keep the writer's text, and warn before it replaces that file.
            self.notice.emit("warning", f"{self.path.name} changed on disk: {problem}")
            theirs = None
        mine, _ = editor_snapshot(self.editor)
        self._asking_about_disk = True
        try:
            choice = self.prompts.changed_on_disk(
                self.path, mine, theirs.text if theirs else "(not text)"
            )
        finally:
            self._asking_about_disk = False
        if choice is DiskChoice.RELOAD and theirs is not None:
            self._reload(theirs.text, theirs.format, state, mine)
        elif choice is DiskChoice.KEEP_MINE:
            self._fingerprint = state.fingerprint  # the writer has seen this version
            self._clean_text = None  # the editor differs from the file now
            self.editor.document().setModified(True)
        elif state.fingerprint is not None:
            self._dismissed_on_disk = state.fingerprint.sha256
        return choice

    def _reload(self, text: str, text_format: TextFormat, state: DiskCheck, mine: str) -> None:
        assert self.path is not None
        if self.modified:  # the writer's unsaved version goes to the backups, not away
            try:
                keep_backup(self.path, encode(mine, self.format), max(self.files.backups_kept, 1))
            except (OSError, SaveError) as exc:
                self.notice.emit("warning", f"Your version could not be backed up: {exc}")
        self._loading = True
        try:
            replace_text(self.editor, text)  # one undo step brings the writer's text back
            self._mark_saved(text)
        finally:
            self._loading = False
        self.format, self._fingerprint = text_format, state.fingerprint
        self.keeper.clear()
        self.status.emit(f"Reloaded “{self.path.name}”")

    # -- recovery -------------------------------------------------------------------------------

    def offer_recovery(self) -> RecoveryDialog | None:
        """Offer what a crashed Storyloom left in the journal (call once at start-up)."""
        orphans = []
        for orphan in find_orphans():
            if orphan.entry.recovers_anything():
                orphans.append(orphan)
            else:
                orphan.forget()  # the file on disk says exactly the same
        if not orphans:
            return None
        parent = self.parent()
        dialog = RecoveryDialog(orphans, parent if isinstance(parent, QWidget) else None)
        dialog.recoverRequested.connect(self.recover)
        dialog.saveAsRequested.connect(self.save_recovered_as)
        dialog.discardRequested.connect(self.discard_recovered)
        dialog.finished.connect(lambda _: self._recovery_closed(dialog))
        self.recovery_dialog = dialog
        dialog.open()
        return dialog

    def recover(self, orphan: Orphan) -> bool:
        """Put `orphan`'s text (and pending continuation) in the editor, unsaved."""
        entry = orphan.entry
        if entry.path is not None and entry.path.exists():
            if not self.open(entry.path):
                return False
            if self.read_only:  # open in a live Storyloom now: recover as a copy
                self._install(None, "", self.format, None, lock=None, read_only=False)
                self.suggested_path = _recovered_name(entry.path)
        else:
            if not self.new():
                return False
            self.format = entry.format
            self.suggested_path = entry.path
        replace_text(self.editor, entry.text, entry.pending)
        self.keeper.write_now()
        self.keeper.wait()  # this window's journal holds it now...
        self._forget(orphan)  # ...so the dead one's can go
        self._done_with(orphan)
        self.status.emit(f"Recovered “{entry.title}”: save it to keep it")
        return True

    def save_recovered_as(self, orphan: Orphan) -> bool:
        entry = orphan.entry
        target = self.prompts.save_path(entry.path or self._folder() / f"{UNTITLED}.md")
        if target is None:
            return False
        try:
            save_with_backup(
                target.absolute(),
                encode(entry.text, entry.format.saved_as_utf8()),
                self.files.backups_kept,
            )
        except SaveError as error:
            self.prompts.save_failed(str(error), offer_save_as=False)
            return False
        self._forget(orphan)
        self._done_with(orphan)
        self.status.emit(f"Saved the recovered text as “{target.name}”")
        return True

    def discard_recovered(self, orphan: Orphan) -> None:
        try:
            kept = orphan.discard()
        except OSError as exc:
            self.prompts.problem(
                "Cannot discard",
                f"The recovered text could not be discarded ({exc}). It stays in "
                f"{orphan.file}, and Storyloom offers it again at the next start.",
            )
            return
        self._done_with(orphan)
        self.status.emit(f"Discarded; a copy stays at {kept}")

    def _forget(self, orphan: Orphan) -> None:
        """The orphan's text is safe elsewhere now: remove its journal, or say why not."""
        try:
            orphan.forget()
        except OSError as exc:
            self.notice.emit(
                "warning",
                f"The recovery copy {orphan.file} could not be removed ({exc}); Storyloom may "
                "offer it again at the next start.",
            )

    def _done_with(self, orphan: Orphan) -> None:
        if self.recovery_dialog is not None and orphan in self.recovery_dialog.orphans:
            self.recovery_dialog.remove(orphan)

    def _recovery_closed(self, dialog: RecoveryDialog) -> None:
        for orphan in dialog.orphans:  # "Decide Later": they wait for the next start
            orphan.release()
        if self.recovery_dialog is dialog:
            self.recovery_dialog = None

    # -- helpers --------------------------------------------------------------------------------

    def _same_file(self, path: Path) -> bool:
        return self.path is not None and path.resolve() == self.path.resolve()

    def _folder(self) -> Path:
        if self.path is not None:
            return self.path.parent
        for recent in self.files.recent:
            if recent.parent.is_dir():
                return recent.parent
        documents = platformdirs.user_documents_path()
        return documents if documents.is_dir() else Path.home()

    def _suggestion(self) -> Path:
        if self.path is not None:
            return self.path
        if self.suggested_path is not None:
            return self.suggested_path
        return self._folder() / f"{UNTITLED}.md"


def _recovered_name(path: Path) -> Path:
    return path.with_name(f"{path.stem} (recovered){path.suffix}")
