"""The editor's text as the writer's: Qt's UTF-16 positions as Python indices, the pending
continuation left out, and the separators Qt keeps in a document as "\n"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.core.journal import PendingText
from storyloom.gui.editor_text import Utf16Index, editor_snapshot, text_before, writer_text
from storyloom.gui.widgets.story_editor import StoryEditor


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@given(st.text(st.sampled_from(["a", "é", "\n", "😀", "𝄞", "中"]), max_size=40))
def test_positions_and_indices_convert_both_ways(text: str) -> None:
    positions = Utf16Index(text)
    for index in range(len(text) + 1):
        assert positions.position(index) == utf16_length(text[:index])
        assert positions.index(utf16_length(text[:index])) == index


def put_cursor(editor: StoryEditor, position: int) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(position)
    editor.setTextCursor(cursor)


def test_the_writers_text_leaves_the_pending_span_out_after_emoji(qtbot) -> None:
    editor = StoryEditor()
    qtbot.addWidget(editor)
    before, after = "😀 One.", " Three 🎉."
    editor.setPlainText(before + after)
    put_cursor(editor, utf16_length(before))
    editor.begin_pending()
    editor.append_pending("Two 😀.")  # a joining space goes in first
    text = writer_text(editor)
    assert text.text == before + after
    assert text.pending == PendingText(len(before), " Two 😀.")
    assert editor_snapshot(editor) == (text.text, text.pending)
    start, end = editor.pending_range()
    assert text.index(start) == text.index(end) == len(before)  # the span is one place
    assert text.index(start + 2) == len(before)  # inside it: where it starts
    assert text.index(end + utf16_length(" Three")) == len(before + " Three")
    assert text.position(len(before)) == start  # before the span
    assert text.position(len(before) + 1) == end + 1  # after it
    assert text_before(editor, start) == before
    assert text_before(editor, end) == before + " Two 😀."


def test_a_shift_enter_line_break_is_a_newline_outside_the_editor(qtbot) -> None:
    editor = StoryEditor()
    qtbot.addWidget(editor)
    editor.show()  # QTest's keys go to a shown widget
    QTest.keyClicks(editor, "One")
    QTest.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    editor.insertPlainText("two 😀")  # (QTest cannot type a character outside the BMP)
    QTest.keyClick(editor, Qt.Key.Key_Return)
    QTest.keyClicks(editor, "three")
    assert editor.document().toRawText() == "One\u2028two 😀\u2029three"  # as Qt keeps it
    assert editor_snapshot(editor) == ("One\ntwo 😀\nthree", None)
    assert text_before(editor, editor.textCursor().position()) == "One\ntwo 😀\nthree"
    editor.moveCursor(QTextCursor.MoveOperation.End)
    editor.begin_pending()
    editor.append_pending("Four.")
    assert editor_snapshot(editor) == ("One\ntwo 😀\nthree", PendingText(15, " Four."))
