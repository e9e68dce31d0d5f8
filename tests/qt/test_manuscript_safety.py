"""What keeps the manuscript safe while it is open: the lock against a second Storyloom, the
prompt when another program changes the file, the recovery journal and its dialog."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.core.backups import list_backups
from storyloom.core.document_lock import DocumentLock, LockOwner, lock_path, read_owner
from storyloom.core.journal import JournalEntry, PendingText, find_orphans, recovery_dir
from storyloom.core.process_locks import this_host
from storyloom.core.text_files import TextFormat
from storyloom.gui.controllers import autosave
from storyloom.gui.dialogs.file_prompts import DiskChoice, LockChoice, UnsavedChoice
from storyloom.gui.main_window import MainWindow

from other_process import HOLD_LOCK, other_process
from prompt_helpers import ScriptedPrompts

STORY = "The lighthouse had been dark for eleven years.\n"


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_text(STORY)
    return path


# -- the lock --------------------------------------------------------------------------------


@pytest.fixture
def other_instance(story: Path):
    """Another process that holds the manuscript's lock (as a second Storyloom would)."""
    with other_process(HOLD_LOCK, str(story)) as holder:
        yield holder


def test_a_manuscript_open_elsewhere_is_offered_read_only(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, other_instance
) -> None:
    assert not window.open_file(story)  # the writer cancels
    assert f"Storyloom process {other_instance.pid}" in prompts.messages[-1]
    prompts.answer("locked", LockChoice.READ_ONLY)
    assert window.open_file(story)
    assert window.manuscript.read_only
    assert window.editor.isReadOnly()
    assert window.windowTitle() == "story.md[*] (read-only) — Storyloom"
    assert "read-only here" in window.file_notice.message.text()
    assert not window.continue_action.isEnabled()
    QTest.keyClicks(window.editor, "typed")
    assert window.editor.toPlainText() == STORY
    assert read_owner(lock_path(story)).pid == other_instance.pid  # theirs, untouched
    # Save offers Save As: the read-only copy never writes to the locked file
    assert not window.manuscript.save()
    assert prompts.asked[-1] == "save_path"
    assert story.read_text() == STORY
    # a copy of one's own is writable, and can be continued
    prompts.answer("save_path", story.with_name("mine.md"))
    assert window.manuscript.save_as()
    assert not window.manuscript.read_only and not window.editor.isReadOnly()
    assert window.continue_action.isEnabled()


def test_taking_over_a_live_lock_is_the_writers_explicit_choice(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, other_instance
) -> None:
    prompts.answer("locked", LockChoice.TAKE_OVER)
    assert window.open_file(story)
    assert not window.manuscript.read_only
    assert read_owner(lock_path(story)).pid == os.getpid()


def test_a_stale_lock_is_taken_over_without_asking(
    window: MainWindow, prompts: ScriptedPrompts, story: Path
) -> None:
    crashed = subprocess.Popen([sys.executable, "-c", "pass"])
    crashed.wait()
    owner = LockOwner(crashed.pid, this_host(), "me", "2025-05-01T09:00:00")
    lock_path(story).write_bytes(owner.to_bytes())
    assert window.open_file(story)
    assert prompts.asked == []
    assert not window.manuscript.read_only
    assert read_owner(lock_path(story)).pid == os.getpid()


def failing_lock(monkeypatch, *, only_take_over: bool = False) -> None:
    """Lock files that cannot be written for a reason other than permissions (an I/O error)."""
    acquire = DocumentLock.acquire

    def broken(cls, manuscript: Path, *, take_over: bool = False):
        if take_over or not only_take_over:
            raise OSError(errno.EIO, "Input/output error", str(lock_path(manuscript)))
        return acquire(manuscript, take_over=take_over)

    monkeypatch.setattr(DocumentLock, "acquire", classmethod(broken))


def test_save_as_where_no_lock_can_be_made_saves_and_says_so(
    window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path, monkeypatch
) -> None:
    failing_lock(monkeypatch)
    window.editor.insertPlainText("A draft.")
    prompts.answer("save_path", tmp_path / "draft.md")
    assert window.manuscript.save_as()
    assert (tmp_path / "draft.md").read_text() == "A draft."
    assert window.manuscript.path == tmp_path / "draft.md" and window.manuscript.lock is None
    assert "could not be locked (" in window.file_notice.message.text()
    assert "Input/output error" in window.file_notice.message.text()


def test_taking_over_a_lock_that_cannot_be_written_opens_unprotected(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, other_instance, monkeypatch
) -> None:
    failing_lock(monkeypatch, only_take_over=True)
    prompts.answer("locked", LockChoice.TAKE_OVER)
    assert window.open_file(story)
    assert not window.manuscript.read_only and window.manuscript.lock is None
    assert "could not be locked (" in window.file_notice.message.text()
    assert read_owner(lock_path(story)).pid == other_instance.pid  # theirs, untouched


# -- changed on disk -------------------------------------------------------------------------


def change_on_disk(story: Path, text: str) -> None:
    story.write_text(text)
    os.utime(story, ns=(time.time_ns(), time.time_ns() + 5_000_000))


def focus(window: MainWindow) -> None:
    """What the window sees when the writer comes back to it from another program."""
    window.changeEvent(QEvent(QEvent.Type.ActivationChange))


def test_focus_notices_a_change_and_reload_keeps_the_writers_version(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    monkeypatch.setattr(MainWindow, "isActiveWindow", lambda self: True)
    window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.insertPlainText("Mine.")
    focus(window)
    assert prompts.asked == []  # nothing changed on disk yet
    change_on_disk(story, "Rewritten in another editor.\n")
    prompts.answer("changed_on_disk", DiskChoice.RELOAD)
    focus(window)
    assert prompts.compared == [(STORY + "Mine.", "Rewritten in another editor.\n")]
    assert window.editor.toPlainText() == "Rewritten in another editor.\n"
    assert not window.isWindowModified()
    # the writer's unsaved version went to the backups, and one undo brings it back too
    assert [p.read_text() for p in list_backups(story)] == [STORY + "Mine."]
    window.editor.undo()
    assert window.editor.toPlainText() == STORY + "Mine."
    focus(window)
    assert prompts.asked == ["changed_on_disk"]  # not asked again


def test_a_dismissed_change_is_not_asked_about_again_on_focus_but_before_saving(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    """Closing the question gives the window the focus back: that must not ask again."""
    monkeypatch.setattr(MainWindow, "isActiveWindow", lambda self: True)
    window.open_file(story)
    window.editor.insertPlainText("Mine. ")
    change_on_disk(story, "Theirs.\n")
    focus(window)  # dismissed (Cancel): nothing decided
    focus(window)  # the activation that closing the dialog brings
    assert prompts.asked == ["changed_on_disk"]
    assert not window.manuscript.save()  # saving still asks: it would replace their version
    assert prompts.asked == ["changed_on_disk", "changed_on_disk"]
    assert story.read_text() == "Theirs.\n"
    change_on_disk(story, "Theirs, again.\n")  # another version: worth a question
    focus(window)
    assert prompts.asked == ["changed_on_disk"] * 3


def test_save_never_overwrites_a_change_made_elsewhere_silently(
    window: MainWindow, prompts: ScriptedPrompts, story: Path
) -> None:
    window.open_file(story)
    window.editor.insertPlainText("Mine. ")
    change_on_disk(story, "Theirs.\n")
    assert not window.manuscript.save()  # the question was dismissed: nothing written
    assert story.read_text() == "Theirs.\n"
    prompts.answer("changed_on_disk", DiskChoice.KEEP_MINE)
    assert window.manuscript.save()
    assert story.read_text() == "Mine. " + STORY
    assert window.manuscript.save()  # the writer has decided: no second question
    assert prompts.asked == ["changed_on_disk", "changed_on_disk"]


def test_a_file_deleted_elsewhere_is_mentioned_once_and_saved_again(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    monkeypatch.setattr(MainWindow, "isActiveWindow", lambda self: True)
    window.open_file(story)
    story.unlink()
    focus(window)
    assert "deleted or moved" in window.file_notice.message.text()
    assert prompts.asked == []
    window.editor.insertPlainText("Still here. ")
    assert window.manuscript.save()
    assert story.read_text() == "Still here. " + STORY


# -- the journal -----------------------------------------------------------------------------


def journal_entry(window: MainWindow) -> JournalEntry:
    window.manuscript.keeper.wait()  # the worker thread has written what it was given
    return JournalEntry.from_bytes(window.manuscript.keeper.journal.file.read_bytes())


class ManualTimer(QObject):
    """Stands in for the journal keeper's QTimers: the test says when their time is up."""

    timeout = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval = 0
        self.active = False
        self.starts = 0

    def setSingleShot(self, single: bool) -> None:
        assert single

    def setInterval(self, interval_ms: int) -> None:
        self.interval = interval_ms

    def isActive(self) -> bool:
        return self.active

    def start(self) -> None:
        self.active = True
        self.starts += 1

    def stop(self) -> None:
        self.active = False

    def elapse(self) -> None:
        assert self.active, "a timer that was not started cannot run out"
        self.active = False
        self.timeout.emit()


def test_typing_is_journaled_within_the_limit_even_without_a_pause(
    qtbot, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    timers: list[ManualTimer] = []
    monkeypatch.setattr(
        autosave, "QTimer", lambda parent: timers.append(ManualTimer(parent)) or timers[-1]
    )
    window = MainWindow()
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # as the window fixture
    qtbot.addWidget(window)
    window.manuscript.prompts = prompts
    by_interval = {timer.interval: timer for timer in timers}
    idle, limit = by_interval[autosave.IDLE_MS], by_interval[autosave.MAX_LAG_MS]
    assert autosave.IDLE_MS < autosave.MAX_LAG_MS < 2000  # the promise: within two seconds
    window.open_file(story)
    journal = window.manuscript.keeper.journal.file
    assert not journal.exists() and not limit.active  # nothing to keep until the first change
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    idle_starts = idle.starts
    for _ in range(30):  # typing on, never pausing as long as the idle write waits
        QTest.keyClicks(window.editor, "a")
        assert idle.active and limit.active
    assert idle.starts == idle_starts + 30  # each keystroke puts the idle write off...
    assert limit.starts == 1  # ...but never the limit, counted from the first one
    assert not journal.exists()
    limit.elapse()
    entry = journal_entry(window)
    assert entry.path == story
    assert entry.text == STORY + "a" * 30
    assert not idle.active  # written: nothing waits any more
    QTest.keyClicks(window.editor, " end")
    idle.elapse()  # the writer pauses
    assert journal_entry(window).text == STORY + "a" * 30 + " end"


def test_an_accepted_continuation_is_journaled_at_once(window: MainWindow, story: Path) -> None:
    window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.begin_pending()
    window.editor.append_pending("She climbed.")
    window.accept()
    assert journal_entry(window).text == STORY + "She climbed."
    assert journal_entry(window).pending is None


def test_streamed_pending_text_is_journaled(window: MainWindow, story: Path, qtbot) -> None:
    window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.begin_pending()
    for word in ("She ", "climbed ", "the ", "stairs."):
        window.editor.append_pending(word)
        qtbot.wait(30)
    qtbot.waitUntil(lambda: window.manuscript.keeper.journal.file.exists(), timeout=2000)
    qtbot.waitUntil(lambda: not window.manuscript.keeper.behind, timeout=2000)
    entry = journal_entry(window)
    assert entry.text == STORY  # the writer's text...
    assert entry.pending == PendingText(len(STORY), "She climbed the stairs.")  # ...apart


# -- recovery --------------------------------------------------------------------------------


def leave_orphan(path: Path | None, text: str, pending: PendingText | None = None) -> Path:
    """A journal as a killed Storyloom leaves it: the file, and no process holding its lock."""
    folder = recovery_dir()
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{abs(hash((str(path), text))):x}.json"
    entry = JournalEntry(text, path, TextFormat("utf-8", "\n"), pending, time.time() - 60)
    file.write_bytes(entry.to_bytes())
    return file


def test_recovery_dialog_previews_and_recovers_into_the_editor(
    window: MainWindow, story: Path, qtbot
) -> None:
    recovered = STORY + "Typed before the crash.\n"
    orphan_file = leave_orphan(story, recovered, PendingText(len(recovered), "She climbed."))
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None and dialog.isVisible()
    assert dialog.list.count() == 1
    assert "story.md" in dialog.summary.text()
    preview = dialog.preview.toPlainText()
    assert "+ Typed before the crash." in preview
    assert "1 line added, 0 removed" in dialog.summary.text()
    assert dialog.pending.isVisible() and dialog.pending.toPlainText() == "She climbed."

    with qtbot.waitSignal(dialog.finished):
        dialog.recover_button.click()
    assert window.manuscript.path == story
    assert window.editor.toPlainText() == recovered + "She climbed."
    assert window.editor.pending_text() == "She climbed."  # pending again, to accept or reject
    assert window.isWindowModified()
    assert story.read_text() == STORY  # nothing written until the writer saves
    assert not orphan_file.exists()
    # this window's journal holds it now: a second crash would still find it
    assert journal_entry(window).text == recovered
    window.editor.undo()  # Ctrl+Z while pending rejects; the recovered text is one step
    window.editor.reject_pending()
    window.editor.undo()
    assert window.editor.toPlainText() == STORY


def test_recovery_of_a_never_saved_manuscript_then_save_as(
    window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    leave_orphan(None, "An untitled draft.")
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None
    assert "never saved" in dialog.summary.text()
    dialog.recover_button.click()
    assert window.editor.toPlainText() == "An untitled draft."
    prompts.answer("save_path", tmp_path / "draft.md")
    assert window.manuscript.save()
    assert (tmp_path / "draft.md").read_text() == "An untitled draft."


def test_discard_keeps_a_copy_and_decide_later_keeps_the_journal(
    window: MainWindow, story: Path, tmp_path: Path
) -> None:
    leave_orphan(story, STORY + "One.")
    leave_orphan(tmp_path / "other.md", "Other.")
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None and dialog.list.count() == 2
    dialog.list.setCurrentRow(0)
    dialog.discard_button.click()
    assert dialog.list.count() == 1
    assert len(list((recovery_dir() / "discarded").glob("*.json"))) == 1
    dialog.later_button.click()
    assert not dialog.isVisible()
    [left] = find_orphans()  # released for the next start
    assert left.entry.text in (STORY + "One.", "Other.")
    left.release()
    assert window.editor.toPlainText() == ""


def test_a_discard_that_fails_is_reported_and_keeps_the_text(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    orphan_file = leave_orphan(story, STORY + "One.")
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None

    def read_only_folder(self: Path, target: Path) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "replace", read_only_folder)
    dialog.discard_button.click()
    assert prompts.asked == ["problem"]
    assert "could not be discarded" in prompts.messages[-1]
    assert "Permission denied" in prompts.messages[-1]
    assert dialog.list.count() == 1  # still there to recover or save
    assert orphan_file.read_text()  # nothing lost
    monkeypatch.undo()
    dialog.discard_button.click()  # the folder is writable again
    assert dialog.list.count() == 0


def test_a_recovery_copy_that_cannot_be_removed_is_mentioned(
    window: MainWindow, story: Path, monkeypatch
) -> None:
    orphan_file = leave_orphan(story, STORY + "Recovered.")
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None

    unlink = Path.unlink

    def stuck(self: Path, missing_ok: bool = False) -> None:
        if self == orphan_file:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", stuck)
    dialog.recover_button.click()
    assert window.editor.toPlainText() == STORY + "Recovered."  # recovered all the same
    assert dialog.list.count() == 0
    assert "could not be removed" in window.file_notice.message.text()


def test_save_as_from_the_recovery_dialog(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, tmp_path: Path
) -> None:
    leave_orphan(story, STORY + "Recovered.", PendingText(0, "Never accepted."))
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None
    prompts.answer("save_path", tmp_path / "rescued.md")
    dialog.save_as_button.click()
    assert (tmp_path / "rescued.md").read_text() == STORY + "Recovered."
    assert not dialog.isVisible()
    assert find_orphans() == []


def test_a_journal_identical_to_the_file_is_not_offered(window: MainWindow, story: Path) -> None:
    orphan_file = leave_orphan(story, STORY)
    assert window.manuscript.offer_recovery() is None
    assert not orphan_file.exists()


def test_recovering_asks_before_replacing_unsaved_work(
    window: MainWindow, prompts: ScriptedPrompts, story: Path
) -> None:
    window.editor.insertPlainText("Current unsaved words.")
    leave_orphan(story, STORY + "Recovered.")
    dialog = window.manuscript.offer_recovery()
    assert dialog is not None
    dialog.recover_button.click()  # the writer cancels the unsaved-changes question
    assert window.editor.toPlainText() == "Current unsaved words."
    assert dialog.list.count() == 1
    prompts.answer("unsaved_changes", UnsavedChoice.DISCARD)
    dialog.recover_button.click()
    assert window.editor.toPlainText() == STORY + "Recovered."


def test_a_journal_of_a_live_window_is_never_offered(qtbot, story: Path) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.open_file(story)
    first.editor.insertPlainText("Live. ")
    first.manuscript.keeper.write_now()
    first.manuscript.keeper.wait()
    assert first.manuscript.keeper.journal.file.exists()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.manuscript.offer_recovery() is None
    first.manuscript.keeper.close()


def test_a_journal_that_cannot_be_written_is_reported_once(
    window: MainWindow, story: Path, qtbot, monkeypatch
) -> None:
    window.open_file(story)
    keeper = window.manuscript.keeper

    def disk_full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keeper.journal, "write_bytes", disk_full)
    with qtbot.waitSignal(keeper.failed) as failed:
        keeper.write_now()
    assert "No space left on device" in failed.args[0]
    assert "Save often" in window.file_notice.message.text()
    with qtbot.assertNotEmitted(keeper.failed, wait=200):
        keeper.write_now()  # still failing: said once is enough
    monkeypatch.undo()
    keeper.write_now()
    keeper.wait()
    assert journal_entry(window).text == STORY
