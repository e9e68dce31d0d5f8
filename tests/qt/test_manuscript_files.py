"""The File menu end to end: open, save, save as, new, recent files, close; the title, the word
counts, and each kind of bad input with its message. Real files in a temporary folder."""

from __future__ import annotations

import codecs
import errno
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from storyloom.core import atomic_save, text_files
from storyloom.core.backups import list_backups
from storyloom.core.journal import JournalEntry
from storyloom.gui.dialogs.file_prompts import UnsavedChoice
from storyloom.gui.main_window import MainWindow

from prompt_helpers import ScriptedPrompts

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk.\n"


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.md"
    path.write_bytes(STORY.replace("\n", "\r\n").encode())
    return path


def type_at_end(window: MainWindow, text: str) -> None:
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.insertPlainText(text)


def test_open_edit_save_keeps_line_endings_and_a_backup(
    window: MainWindow, story: Path, qtbot
) -> None:
    with qtbot.waitSignal(window.documentOpened) as opened:
        assert window.open_file(story)
    assert opened.args == [story]
    assert window.editor.toPlainText() == STORY
    assert window.windowTitle() == "story.md[*] — Storyloom"
    assert not window.isWindowModified()

    type_at_end(window, "The door was open.")
    assert window.isWindowModified()
    with qtbot.waitSignal(window.documentSaved) as saved:
        assert window.manuscript.save()
    assert saved.args == [story]
    assert story.read_bytes() == (STORY + "The door was open.").replace("\n", "\r\n").encode()
    assert not window.isWindowModified()
    [backup] = list_backups(story)
    assert backup.read_bytes() == STORY.replace("\n", "\r\n").encode()
    assert window.file_actions.save.shortcut().toString() == "Ctrl+S"


def test_save_writes_the_text_without_the_pending_continuation(
    window: MainWindow, story: Path
) -> None:
    window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.begin_pending()
    window.editor.append_pending("She climbed the stairs. 😀")
    type_at_end(window, "")  # the writer's cursor stays before the pending text
    window.editor.moveCursor(QTextCursor.MoveOperation.Start)
    window.editor.insertPlainText("Prologue. ")
    assert window.manuscript.save()
    assert story.read_bytes().decode() == ("Prologue. " + STORY).replace("\n", "\r\n")
    # the journal keeps the continuation, marked apart, at its place in the writer's text
    window.manuscript.keeper.wait()
    entry = JournalEntry.from_bytes(window.manuscript.keeper.journal.file.read_bytes())
    assert entry.text == "Prologue. " + STORY
    assert entry.pending is not None
    assert entry.pending.text == "She climbed the stairs. 😀"
    assert entry.pending.position == len("Prologue. " + STORY)


def test_a_shift_enter_line_break_is_saved_and_journaled_as_a_newline(
    window: MainWindow, story: Path
) -> None:
    """Qt keeps Shift+Enter as U+2028 (LINE SEPARATOR): it must not reach the file."""
    window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    QTest.keyClicks(window.editor, "One")
    QTest.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(window.editor, "two.")
    assert "\u2028" in window.editor.document().toRawText()
    window.manuscript.keeper.write_now()
    window.manuscript.keeper.wait()
    entry = JournalEntry.from_bytes(window.manuscript.keeper.journal.file.read_bytes())
    assert entry.text == STORY + "One\ntwo."
    assert window.manuscript.save()
    assert story.read_bytes() == (STORY + "One\ntwo.").replace("\n", "\r\n").encode()
    assert window.open_file(story)  # and back: the same text
    assert window.editor.toPlainText() == STORY + "One\ntwo."


def test_save_as_for_a_new_manuscript(
    window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path, qtbot
) -> None:
    window.editor.insertPlainText("A new beginning.")
    prompts.answer("save_path", tmp_path / "chapter one")
    with qtbot.waitSignal(window.documentPathChanged) as changed:
        assert window.manuscript.save()  # untitled: Save is Save As
    target = tmp_path / "chapter one.md"  # a name without a suffix becomes Markdown
    assert changed.args == [target]
    assert target.read_text() == "A new beginning."
    assert window.windowTitle() == "chapter one.md[*] — Storyloom"
    assert window.manuscript.lock is not None
    assert window.manuscript.lock.file == tmp_path / ".chapter one.md.storyloom-lock"
    assert window.manuscript.files.recent == [target]


def test_save_as_moves_the_lock(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, tmp_path: Path
) -> None:
    window.open_file(story)
    old_lock = window.manuscript.lock
    assert old_lock is not None and old_lock.file.exists()
    prompts.answer("save_path", tmp_path / "copy.txt")
    assert window.manuscript.save_as()
    assert not old_lock.file.exists()
    assert (tmp_path / ".copy.txt.storyloom-lock").exists()
    assert (tmp_path / "copy.txt").read_bytes() == story.read_bytes()


def test_a_latin1_book_opens_with_a_notice_and_saves_as_utf8(
    window: MainWindow, gutenberg_dir: Path, tmp_path: Path, prompts: ScriptedPrompts
) -> None:
    book = tmp_path / "1661.txt"
    book.write_bytes((gutenberg_dir / "1661.txt").read_bytes())
    assert window.open_file(book)
    assert window.file_notice.isVisible()
    assert "Windows-1252" in window.file_notice.message.text()
    assert "Saving writes UTF-8" in window.file_notice.message.text()
    type_at_end(window, "Fin.")
    assert window.manuscript.save()
    saved = book.read_bytes()
    assert saved.decode("utf-8").endswith("Fin.")
    assert saved.count(b"\r\n") == (gutenberg_dir / "1661.txt").read_bytes().count(b"\r\n")
    assert window.manuscript.format.encoding == "utf-8"


def test_a_stray_byte_in_a_utf8_manuscript_is_a_warning_and_saving_mends_it(
    window: MainWindow, tmp_path: Path
) -> None:
    story = tmp_path / "story.md"
    story.write_bytes("“Déjà,” she said.\n".encode() + b"Caf\xe9.\n")
    assert window.open_file(story)
    assert window.editor.toPlainText() == "“Déjà,” she said.\nCafé.\n"
    assert window.file_notice.property("level") == "warning"
    assert "except for 1 byte on line 2" in window.file_notice.message.text()
    type_at_end(window, "Fin.")
    assert window.manuscript.save()
    assert story.read_bytes() == "“Déjà,” she said.\nCafé.\nFin.".encode()


def test_utf16_and_bom_files_round_trip(window: MainWindow, tmp_path: Path) -> None:
    bom = tmp_path / "bom.txt"
    bom.write_bytes(codecs.BOM_UTF8 + b"Caf\xc3\xa9\r\n")
    window.open_file(bom)
    type_at_end(window, "Fin.")
    window.manuscript.save()
    assert bom.read_bytes() == codecs.BOM_UTF8 + "Café\r\nFin.".encode()
    wide = tmp_path / "wide.txt"
    wide.write_bytes(codecs.BOM_UTF16_LE + "Où?\r\n".encode("utf-16-le"))
    window.open_file(wide)
    assert window.editor.toPlainText() == "Où?\n"
    assert "UTF-16" in window.file_notice.message.text()


def test_no_break_spaces_survive_a_save(window: MainWindow, tmp_path: Path) -> None:
    french = tmp_path / "fr.md"
    french.write_text("« Bonjour », dit-il\u00a0!\n", encoding="utf-8")
    window.open_file(french)
    type_at_end(window, "Fin.")
    window.manuscript.save()
    assert french.read_text(encoding="utf-8") == "« Bonjour », dit-il\u00a0!\nFin."


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "does not look like text"),
        (None, "was not found"),
    ],
    ids=["binary", "missing"],
)
def test_bad_files_are_refused_with_a_message_and_nothing_changes(
    window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path, content, expected: str
) -> None:
    window.editor.insertPlainText("My unsaved words.")
    bad = tmp_path / "bad.txt"
    if content is not None:
        bad.write_bytes(content)
    assert not window.open_file(bad)
    assert prompts.asked == ["problem"]  # no question about the unsaved words: nothing opened
    assert expected in prompts.messages[-1]
    assert window.editor.toPlainText() == "My unsaved words."
    assert window.manuscript.path is None


def test_a_large_file_asks_first(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    monkeypatch.setattr(text_files, "LARGE_FILE_BYTES", 10)
    assert not window.open_file(story)  # the writer says no
    assert prompts.asked == ["open_large_file"]
    assert window.manuscript.path is None
    prompts.answer("open_large_file", True)
    assert window.open_file(story)
    assert window.editor.toPlainText() == STORY


def test_permission_denied_on_open(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    def denied(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert not window.open_file(story)
    assert "permission denied" in prompts.messages[-1]


def test_a_read_only_folder_offers_save_as(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, tmp_path: Path, monkeypatch
) -> None:
    window.open_file(story)
    type_at_end(window, "More.")
    real_open = os.open
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def read_only_folder(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == story.parent:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(atomic_save.os, "open", read_only_folder)
    prompts.answer("save_failed", True).answer("save_path", elsewhere / "story.md")
    assert window.manuscript.save()
    assert "Save As" in prompts.messages[0]
    assert story.read_bytes() == STORY.replace("\n", "\r\n").encode()  # untouched
    assert (elsewhere / "story.md").read_bytes().decode().endswith("More.")
    assert window.manuscript.path == elsewhere / "story.md"


def test_a_full_disk_keeps_the_old_file_and_the_unsaved_mark(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, monkeypatch
) -> None:
    window.open_file(story)
    type_at_end(window, "More.")

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_save.os, "write", no_space)
    assert not window.manuscript.save()
    assert "disk is full" in prompts.messages[-1]
    assert story.read_bytes() == STORY.replace("\n", "\r\n").encode()
    assert window.isWindowModified()
    assert window.editor.toPlainText().endswith("More.")


def test_closing_with_unsaved_changes_asks(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, qtbot
) -> None:
    window.open_file(story)
    type_at_end(window, "More.")
    journal = window.manuscript.keeper.journal
    window.manuscript.keeper.write_now()
    window.manuscript.keeper.wait()
    assert journal.file.exists()
    assert not window.close()  # Cancel (a dismissed question cancels too)
    assert window.isVisible()
    prompts.answer("unsaved_changes", UnsavedChoice.SAVE)
    with qtbot.waitSignal(window.closed):
        assert window.close()
    assert story.read_bytes().endswith(b"More.")
    assert not journal.file.exists()  # closed on purpose: nothing to recover
    assert not (story.parent / ".story.md.storyloom-lock").exists()
    assert prompts.asked == ["unsaved_changes", "unsaved_changes"]


def stream(window: MainWindow, text: str) -> None:
    """A continuation streaming in at the end of the story, as the controller writes it."""
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.begin_pending()
    for word in text.split(" "):
        window.editor.append_pending(word + " ")


def test_a_pending_continuation_is_not_an_unsaved_change(
    window: MainWindow, prompts: ScriptedPrompts, story: Path
) -> None:
    """Only the writer's text counts: streaming after a save, or rejecting a continuation that
    was pending when the story was saved, leave it as the file has it."""
    window.open_file(story)
    stream(window, "She climbed the stairs.")
    assert not window.isWindowModified() and not window.manuscript.modified
    window.reject()
    assert not window.isWindowModified()
    stream(window, "She waited.")
    assert window.manuscript.save()  # saved while pending: the file has the writer's text...
    window.editor.append_pending("More.")  # ...and the stream goes on
    assert not window.isWindowModified()
    window.reject()
    assert not window.isWindowModified()
    assert window.manuscript.confirm_discard()
    assert prompts.asked == []  # no needless "Save changes?"


def test_the_writers_edits_next_to_a_pending_continuation_are_unsaved_changes(
    window: MainWindow, story: Path
) -> None:
    window.open_file(story)
    stream(window, "She waited.")
    assert window.manuscript.save()
    window.editor.moveCursor(QTextCursor.MoveOperation.Start)
    window.editor.insertPlainText("Prologue. ")  # the writer, while it is pending
    assert window.isWindowModified()
    window.reject()
    assert window.isWindowModified()
    assert window.manuscript.save()
    stream(window, "She left.")
    window.accept()  # an accepted continuation is the writer's text
    assert window.isWindowModified() and window.manuscript.modified


def test_dont_save_closes_and_leaves_the_file(
    window: MainWindow, prompts: ScriptedPrompts, story: Path, qtbot
) -> None:
    window.open_file(story)
    type_at_end(window, "More.")
    prompts.answer("unsaved_changes", UnsavedChoice.DISCARD)
    with qtbot.waitSignal(window.closed):
        window.close()
    assert story.read_bytes() == STORY.replace("\n", "\r\n").encode()


def test_new_asks_about_unsaved_changes(window: MainWindow, prompts: ScriptedPrompts) -> None:
    window.editor.insertPlainText("Draft.")
    window.file_actions.new.trigger()
    assert window.editor.toPlainText() == "Draft."  # cancelled
    prompts.answer("unsaved_changes", UnsavedChoice.DISCARD)
    window.file_actions.new.trigger()
    assert window.editor.toPlainText() == ""
    assert window.windowTitle() == "Untitled[*] — Storyloom"


def test_recent_files_menu(window: MainWindow, tmp_path: Path) -> None:
    first, second = tmp_path / "one.md", tmp_path / "two.txt"
    first.write_text("One.")
    second.write_text("Two.")
    window.open_file(first)
    window.open_file(second)
    menu = window.file_actions.recent
    menu.aboutToShow.emit()
    labels = [action.text() for action in menu.actions() if action.text()]
    assert labels == ["&1 two.txt", "&2 one.md", "Clear List"]
    menu.actions()[1].trigger()
    assert window.manuscript.path == first
    assert window.editor.toPlainText() == "One."


def test_word_counts_in_the_status_bar(window: MainWindow, story: Path, qtbot) -> None:
    window.open_file(story)
    label = window.word_count_label
    qtbot.waitUntil(lambda: label.text() == "15 words")
    type_at_end(window, "She climbed.")
    qtbot.waitUntil(lambda: label.text() == "17 words · +2 this session")
    window.editor.begin_pending()
    window.editor.append_pending(" Three more words.")
    window.word_counts.recount()
    assert label.text() == "17 words · +2 this session"  # pending text is not the writer's
    window.editor.reject_pending()
    cursor = window.editor.textCursor()
    cursor.setPosition(0)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfWord, QTextCursor.MoveMode.KeepAnchor)
    window.editor.setTextCursor(cursor)
    qtbot.waitUntil(lambda: "1 selected" in label.text())


def test_read_only_documents_cannot_continue(window: MainWindow) -> None:
    window.editor.setReadOnly(True)
    window.continue_story()
    assert not window.editor.has_pending()
    assert not window.controller.is_running
    QApplication.processEvents()
