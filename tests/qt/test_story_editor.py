"""The story editor's pending continuation: streaming, accept/reject, undo, keys, scrolling."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QInputMethodEvent,
    QPalette,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import QApplication, QMainWindow

from storyloom.gui.widgets.story_editor import StoryEditor

pytestmark = pytest.mark.qt

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
STORY = "Il était une fois — “une reine” qui lisait.\n\nShe wrote to Zoë every week:\nDear Zoë,"


def make_editor(qtbot, text: str = STORY, cursor_at: int | None = None) -> StoryEditor:
    editor = StoryEditor()
    qtbot.addWidget(editor)
    editor.setPlainText(text)
    move_cursor(editor, len(text) if cursor_at is None else cursor_at)
    return editor


def move_cursor(editor: StoryEditor, position: int, anchor: int | None = None) -> None:
    cursor = editor.textCursor()
    cursor.setPosition(position if anchor is None else anchor)
    cursor.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def is_tinted(editor: StoryEditor, position: int) -> bool:
    """Whether the character at `position` carries a background (the pending tint)."""
    cursor = QTextCursor(editor.document())
    cursor.setPosition(position + 1)  # a cursor reports the format of the character before it
    return cursor.charFormat().hasProperty(QTextFormat.Property.BackgroundBrush)


def stream(editor: StoryEditor, *deltas: str) -> None:
    editor.begin_pending()
    for delta in deltas:
        editor.append_pending(delta)


def undo_keys(qtbot, editor: StoryEditor) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL)


def redo_keys(qtbot, editor: StoryEditor) -> None:
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL_SHIFT)


def recorder(signal) -> list[object]:
    seen: list[object] = []
    signal.connect(lambda *args: seen.append(args[0] if args else None))
    return seen


# -- streaming, accept, reject ---------------------------------------------------------------


def test_stream_then_accept_makes_normal_text_and_moves_the_cursor(qtbot) -> None:
    editor = make_editor(qtbot)
    changes = recorder(editor.pendingChanged)
    stream(editor, "Thank you", " for the letter.\nI", " remain yours.")
    assert editor.has_pending()
    assert editor.pending_text() == " Thank you for the letter.\nI remain yours."
    assert editor.pending_range() == (len(STORY), len(STORY) + len(editor.pending_text()))

    accepted = editor.accept_pending()

    assert accepted == " Thank you for the letter.\nI remain yours."
    assert editor.toPlainText() == STORY + accepted
    assert not editor.has_pending()
    assert editor.pending_text() == ""
    assert editor.textCursor().position() == len(STORY + accepted)
    assert not any(is_tinted(editor, p) for p in range(len(STORY + accepted)))
    assert changes == [True, False]


def test_pending_text_is_tinted_and_the_writers_text_is_not(qtbot) -> None:
    editor = make_editor(qtbot, "The king", cursor_at=3)
    stream(editor, "old", "er")
    assert editor.toPlainText() == "The older king"
    start, end = editor.pending_range()
    assert (start, end) == (3, 9)
    assert all(is_tinted(editor, p) for p in range(start, end))
    assert not any(is_tinted(editor, p) for p in [*range(start), *range(end, 14)])


def test_the_writers_cursor_stays_where_it_was_while_text_streams_in(qtbot) -> None:
    editor = make_editor(qtbot, "The king", cursor_at=8)
    stream(editor, "ruled", " well.")
    assert editor.textCursor().position() == 8
    assert not editor.textCursor().hasSelection()


def test_begin_collapses_a_selection_to_its_end_and_keeps_the_text(qtbot) -> None:
    editor = make_editor(qtbot, "The old king ruled.")
    move_cursor(editor, 12, anchor=4)  # "old king" selected
    stream(editor, "and wise")
    assert editor.toPlainText() == "The old king and wise ruled."
    assert editor.pending_range() == (12, 21)


def test_misuse_raises_clear_errors(qtbot) -> None:
    editor = make_editor(qtbot)
    with pytest.raises(RuntimeError, match="no continuation"):
        editor.append_pending("text")
    with pytest.raises(RuntimeError, match="no continuation"):
        editor.accept_pending()
    editor.begin_pending()
    with pytest.raises(RuntimeError, match="already pending"):
        editor.begin_pending()


@pytest.mark.parametrize("anchor", [0, 17, len(STORY)], ids=["start", "middle", "end"])
def test_reject_restores_the_writers_text_byte_for_byte(qtbot, anchor: int) -> None:
    editor = make_editor(qtbot, STORY + " 🖋 ", cursor_at=anchor)
    before = editor.toPlainText()
    changes = recorder(editor.pendingChanged)
    stream(editor, "Ça", " alors —\n\n“non”", ", dit-elle. 🖋")

    removed = editor.reject_pending()

    assert removed.endswith("“non”, dit-elle. 🖋")
    assert editor.toPlainText() == before
    assert not editor.has_pending()
    assert changes == [True, False]


def test_accept_or_reject_of_an_empty_span_changes_nothing(qtbot) -> None:
    editor = make_editor(qtbot)
    editor.begin_pending()
    assert editor.accept_pending() == ""
    editor.begin_pending()
    editor.append_pending("")
    assert editor.reject_pending() == ""
    assert editor.toPlainText() == STORY
    assert not editor.document().isUndoAvailable()


# -- the joiner ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "delta", "pending"),
    [
        ("The king", "ruled", " ruled"),
        ("The year", "1888", " 1888"),
        ("He said.", "“Go", " “Go"),
        ('"Stop."', '"Why?"', ' "Why?"'),
        ("The king ", "ruled", "ruled"),
        ("The king", " ruled", " ruled"),
        ("The king", "\nruled", "\nruled"),
        ("The king", ", said Tom", ", said Tom"),
        ("The end.\n", "Later", "Later"),
        ("She whispered (", "softly", "softly"),
        ("He said “", "go", "go"),
        ("", "Once", "Once"),
    ],
)
def test_joiner(qtbot, before: str, delta: str, pending: str) -> None:
    editor = make_editor(qtbot, before)
    stream(editor, delta)
    assert editor.pending_text() == pending
    assert editor.toPlainText() == before + pending


def test_joiner_waits_for_the_first_text_and_is_added_once(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "", "ruled", "again")
    assert editor.pending_text() == " ruledagain"


def test_reject_removes_the_joiner_too(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled")
    assert editor.reject_pending() == " ruled"
    assert editor.toPlainText() == "The king"


# -- undo and redo ---------------------------------------------------------------------------


def test_accepted_text_is_one_undo_step_via_the_document(qtbot) -> None:
    editor = make_editor(qtbot)
    qtbot.keyClicks(editor, " She")  # the writer's own step, which must survive
    stream(editor, "smiled", " and\nwrote", " back.")
    accepted = editor.accept_pending()
    document = editor.document()

    document.undo()
    assert editor.toPlainText() == STORY + " She"
    document.redo()
    assert editor.toPlainText() == STORY + " She" + accepted
    assert not is_tinted(editor, len(STORY) + 5)
    document.undo()
    document.undo()
    assert editor.toPlainText() == STORY


def test_accepted_text_is_one_undo_step_via_keys(qtbot) -> None:
    editor = make_editor(qtbot)
    qtbot.keyClicks(editor, " She")
    stream(editor, "smiled", " and\nwrote", " back.")
    accepted = editor.accept_pending()

    undo_keys(qtbot, editor)
    assert editor.toPlainText() == STORY + " She"
    redo_keys(qtbot, editor)
    assert editor.toPlainText() == STORY + " She" + accepted
    undo_keys(qtbot, editor)
    undo_keys(qtbot, editor)
    assert editor.toPlainText() == STORY


@pytest.mark.parametrize("use_keys", [False, True], ids=["document", "keys"])
def test_accepted_text_is_one_undo_step_after_an_edit_elsewhere_mid_stream(
    qtbot, use_keys: bool
) -> None:
    editor = make_editor(qtbot, "Chapter 1\n\nThe king")
    stream(editor, "ruled", " wisely")
    move_cursor(editor, 9)
    qtbot.keyClicks(editor, ": Dawn")  # the writer retitles the chapter while it streams
    editor.append_pending(".\nThe queen")
    editor.append_pending(" laughed.")
    accepted = editor.accept_pending()
    assert accepted == " ruled wisely.\nThe queen laughed."
    written = "Chapter 1: Dawn\n\nThe king"

    (undo_keys(qtbot, editor) if use_keys else editor.document().undo())
    assert editor.toPlainText() == written
    (redo_keys(qtbot, editor) if use_keys else editor.document().redo())
    assert editor.toPlainText() == written + accepted
    assert not any(is_tinted(editor, p) for p in range(len(written + accepted)))


def test_redo_of_an_accepted_continuation_leaves_the_cursor_at_its_end(qtbot) -> None:
    editor = make_editor(qtbot)
    stream(editor, "She tied", " the boat.")
    editor.accept_pending()
    end = len(editor.toPlainText())
    undo_keys(qtbot, editor)
    redo_keys(qtbot, editor)
    assert editor.textCursor().position() == end  # not thrown back to the top of the story


def test_typing_after_accepting_is_its_own_undo_step(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled.")
    editor.accept_pending()
    qtbot.keyClicks(editor, " Then")

    undo_keys(qtbot, editor)
    assert editor.toPlainText() == "The king ruled."
    undo_keys(qtbot, editor)
    assert editor.toPlainText() == "The king"


@pytest.mark.parametrize("use_keys", [False, True], ids=["document", "keys"])
def test_undo_after_reject_never_brings_the_continuation_back(qtbot, use_keys: bool) -> None:
    editor = make_editor(qtbot, "The king")
    qtbot.keyClicks(editor, " ruled")
    stream(editor, "wisely", " and long.")
    editor.reject_pending()
    assert editor.toPlainText() == "The king ruled"

    (undo_keys(qtbot, editor) if use_keys else editor.document().undo())
    assert editor.toPlainText() == "The king"  # the writer's own last edit is what goes
    (redo_keys(qtbot, editor) if use_keys else editor.document().redo())
    assert editor.toPlainText() == "The king ruled"
    (redo_keys(qtbot, editor) if use_keys else editor.document().redo())
    assert editor.toPlainText() == "The king ruled"


def test_ctrl_z_while_pending_asks_for_a_reject_instead_of_undoing(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled")
    rejects = recorder(editor.rejectRequested)
    undo_keys(qtbot, editor)
    assert rejects == [None]
    assert editor.toPlainText() == "The king ruled"
    assert editor.pending_text() == " ruled"


# -- edits while pending ---------------------------------------------------------------------


def test_edits_before_the_span_shift_it_and_keep_its_text_exact(qtbot) -> None:
    editor = make_editor(qtbot, "It was late. The king")
    stream(editor, "ruled")
    move_cursor(editor, 0)
    qtbot.keyClicks(editor, "Oh. ")  # typing before
    move_cursor(editor, 16)
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)  # "late." -> "late"
    move_cursor(editor, 4)
    mime = QMimeData()
    mime.setText("Well, ")
    editor.insertFromMimeData(mime)  # pasting before
    editor.append_pending(" wisely.")

    assert editor.toPlainText() == "Oh. Well, It was late The king ruled wisely."
    assert editor.pending_text() == " ruled wisely."
    assert editor.pending_range() == (30, 44)
    assert editor.accept_pending() == " ruled wisely."
    assert editor.toPlainText() == "Oh. Well, It was late The king ruled wisely."


def test_typing_after_the_span_leaves_it_intact(qtbot) -> None:
    editor = make_editor(qtbot, "The king.\nLater", cursor_at=8)
    stream(editor, "ruled")
    move_cursor(editor, len("The king ruled.\nLater"))
    qtbot.keyClicks(editor, " that day")
    editor.append_pending(" well")
    assert editor.toPlainText() == "The king ruled well.\nLater that day"
    assert editor.pending_text() == " ruled well"
    assert not is_tinted(editor, len("The king ruled well.\nLater "))


def test_text_inserted_at_the_span_end_stays_outside_it(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled")
    move_cursor(editor, len("The king ruled"))
    mime = QMimeData()
    mime.setText(" (pasted)")
    editor.insertFromMimeData(mime)
    editor.append_pending(" well")
    assert editor.toPlainText() == "The king ruled well (pasted)"
    assert editor.pending_text() == " ruled well"


def test_text_pasted_at_an_empty_spans_anchor_goes_before_it(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    editor.begin_pending()
    mime = QMimeData()
    mime.setText(" and queen")
    editor.insertFromMimeData(mime)
    assert editor.pending_range() == (18, 18)
    editor.append_pending("ruled")
    assert editor.toPlainText() == "The king and queen ruled"
    assert editor.pending_text() == " ruled"


def test_deleting_across_the_span_shrinks_it_and_streaming_goes_on(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled the land")
    move_cursor(editor, len("The king ruled"), anchor=4)  # "king ruled" selected
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    assert editor.toPlainText() == "The  the land"
    assert editor.pending_text() == " the land"
    editor.append_pending(" for years.")
    assert editor.accept_pending() == " the land for years."
    assert editor.toPlainText() == "The  the land for years."


def test_typing_inside_the_span_accepts_it_in_place_first(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled the land")
    move_cursor(editor, len("The king ruled"))
    qtbot.keyClicks(editor, " all")
    assert not editor.has_pending()
    assert editor.toPlainText() == "The king ruled all the land"
    assert not any(is_tinted(editor, p) for p in range(len("The king ruled all the land")))


def test_pasting_inside_the_span_accepts_it_first(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled the land")
    move_cursor(editor, len("The king ruled"))
    mime = QMimeData()
    mime.setHtml("<b>all</b>")
    mime.setText(" all")
    editor.insertFromMimeData(mime)
    assert not editor.has_pending()
    assert editor.toPlainText() == "The king ruled all the land"
    assert not is_tinted(editor, len("The king ruled a"))


def test_paste_is_plain_text(qtbot) -> None:
    editor = make_editor(qtbot, "Title: ")
    rich = QMimeData()
    rich.setHtml("<h1>Big</h1>")
    assert not editor.canInsertFromMimeData(rich)
    rich.setText("Big\r\nTitle")
    assert editor.canInsertFromMimeData(rich)
    editor.insertFromMimeData(rich)
    assert editor.toPlainText() == "Title: Big\nTitle"
    assert editor.document().blockCount() == 2


def test_set_plain_text_drops_the_pending_span(qtbot) -> None:
    editor = make_editor(qtbot)
    stream(editor, "more")
    changes = recorder(editor.pendingChanged)
    editor.setPlainText("A new story.")
    assert changes == [False]
    assert not editor.has_pending()
    assert editor.toPlainText() == "A new story."


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Enter])
def test_ctrl_enter_asks_to_continue_or_to_accept(qtbot, key: Qt.Key) -> None:
    editor = make_editor(qtbot)
    continues = recorder(editor.continueRequested)
    accepts = recorder(editor.acceptRequested)
    qtbot.keyClick(editor, key, CTRL)
    assert (continues, accepts) == ([None], [])
    stream(editor, "More")
    qtbot.keyClick(editor, key, CTRL)
    assert (continues, accepts) == ([None], [None])
    assert editor.toPlainText() == STORY + " More"  # no newline typed
    assert editor.has_pending()  # the controller decides


def test_tab_esc_and_ctrl_r_only_ask_while_pending(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    accepts = recorder(editor.acceptRequested)
    rejects = recorder(editor.rejectRequested)
    retries = recorder(editor.retryRequested)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.keyClick(editor, Qt.Key.Key_R, CTRL)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "The king\t"
    assert accepts == rejects == retries == []

    stream(editor, "ruled")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.keyClick(editor, Qt.Key.Key_R, CTRL)
    assert (accepts, rejects, retries) == ([None], [None], [None])
    assert editor.toPlainText() == "The king\truled"  # no joiner after whitespace
    assert editor.has_pending()


def test_window_shortcuts_on_the_same_keys_do_not_steal_them(qtbot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    editor = StoryEditor(window)
    window.setCentralWidget(editor)
    fired: list[str] = []
    for name, shortcut in [("continue", "Ctrl+Return"), ("retry", "Ctrl+R")]:
        action = QAction(name, window)
        action.setShortcut(shortcut)
        action.triggered.connect(lambda _=False, name=name: fired.append(name))
        window.addAction(action)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    editor.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor)
    continues = recorder(editor.continueRequested)
    retries = recorder(editor.retryRequested)

    qtbot.keyClick(editor, Qt.Key.Key_R, CTRL)  # nothing pending: the window's action runs
    assert fired == ["retry"]
    qtbot.keyClick(editor, Qt.Key.Key_Return, CTRL)
    stream(editor, "Once")
    qtbot.keyClick(editor, Qt.Key.Key_R, CTRL)
    assert (continues, retries, fired) == ([None], [None], ["retry"])


@pytest.mark.parametrize("where", ["anchor", "end"])
@pytest.mark.parametrize("controller_accepts", [True, False], ids=["controller", "locally"])
def test_typing_on_accepts_and_puts_the_text_after_the_continuation(
    qtbot, where: str, controller_accepts: bool
) -> None:
    editor = make_editor(qtbot, "The king")
    accepts = recorder(editor.acceptRequested)
    if controller_accepts:
        editor.acceptRequested.connect(editor.accept_pending)
    stream(editor, "ruled.")
    if where == "end":
        move_cursor(editor, len("The king ruled."))

    qtbot.keyClicks(editor, " He")

    assert accepts == [None]
    assert not editor.has_pending()
    assert editor.toPlainText() == "The king ruled. He"
    assert editor.textCursor().position() == len("The king ruled. He")
    assert not any(is_tinted(editor, p) for p in range(len("The king ruled. He")))


def test_enter_at_the_span_end_types_on(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled.")
    move_cursor(editor, len("The king ruled."))
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClicks(editor, "Next")
    assert not editor.has_pending()
    assert editor.toPlainText() == "The king ruled.\nNext"
    assert not is_tinted(editor, len("The king ruled.\nN"))


def test_input_method_commit_at_the_anchor_types_on(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    stream(editor, "ruled.")
    event = QInputMethodEvent("", [])
    event.setCommitString(" 王")
    QApplication.sendEvent(editor, event)
    assert not editor.has_pending()
    assert editor.toPlainText() == "The king ruled. 王"


def test_typing_elsewhere_is_a_normal_edit(qtbot) -> None:
    editor = make_editor(qtbot, "The king")
    accepts = recorder(editor.acceptRequested)
    stream(editor, "ruled.")
    move_cursor(editor, 0)
    qtbot.keyClicks(editor, "So ")
    assert accepts == []
    assert editor.has_pending()
    assert editor.toPlainText() == "So The king ruled."
    assert editor.pending_text() == " ruled."


# -- viewport, palette, scale ----------------------------------------------------------------


def shown_editor(qtbot, text: str) -> StoryEditor:
    editor = make_editor(qtbot, text)
    editor.resize(420, 300)
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def test_streaming_does_not_scroll_when_the_writer_scrolled_away(qtbot) -> None:
    editor = shown_editor(qtbot, "\n".join(f"Line {n} of the story." for n in range(300)))
    editor.begin_pending()
    bar = editor.verticalScrollBar()
    bar.setValue(10)  # the writer scrolls up to reread
    for n in range(40):
        editor.append_pending(f" Streamed {n}.\n")
    assert bar.value() == 10
    assert editor.textCursor().position() == editor.pending_range()[0]


def test_streaming_above_the_view_keeps_the_writers_place(qtbot) -> None:
    editor = shown_editor(qtbot, "\n".join(f"Line {n} of the story." for n in range(300)))
    move_cursor(editor, editor.document().findBlockByNumber(20).position())
    editor.begin_pending()
    editor.verticalScrollBar().setValue(100)  # the writer reads on, further down
    assert editor.firstVisibleBlock().text() == "Line 100 of the story."
    for n in range(10):
        editor.append_pending(f"Streamed {n}.\n")
    assert editor.firstVisibleBlock().text() == "Line 100 of the story."


def test_streaming_follows_when_the_writer_watches_the_span_end(qtbot) -> None:
    editor = shown_editor(qtbot, "\n".join(f"Line {n} of the story." for n in range(300)))
    editor.ensureCursorVisible()
    bar = editor.verticalScrollBar()
    before = bar.value()
    editor.begin_pending()
    for n in range(40):
        editor.append_pending(f" Streamed {n}.\n")
        _, end = editor.pending_range()
        cursor = QTextCursor(editor.document())
        cursor.setPosition(end)
        assert editor.viewport().rect().contains(editor.cursorRect(cursor))
    assert bar.value() > before


def test_pending_colours_follow_the_palette(qtbot) -> None:
    editor = make_editor(qtbot, "Night")
    dark = QPalette(QGuiApplication.palette())
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    dark.setColor(QPalette.ColorRole.Highlight, QColor("#3d7bd9"))
    editor.setPalette(dark)

    fmt = editor.pending_format()
    tint = fmt.background().color()
    assert tint.rgb() == QColor("#3d7bd9").rgb()
    assert 0 < tint.alpha() < 128
    muted = fmt.foreground().color()
    assert QColor("#1e1e1e").lightness() < muted.lightness() < QColor("#e0e0e0").lightness()
    stream(editor, "fell.")
    cursor = QTextCursor(editor.document())
    cursor.setPosition(len("Night fell."))
    assert cursor.charFormat().background().color() == tint


def test_appending_into_a_novel_never_reads_the_whole_document(qtbot, monkeypatch) -> None:
    paragraph = "It was the best of times, it was the worst of times, it was the age of wisdom."
    novel = "\n".join(f"{n}. {paragraph}" for n in range(6000))
    assert len(novel) > 500_000
    anchor = novel.index("\n", 250_000) + 1  # a paragraph start: no joiner
    editor = make_editor(qtbot, novel, cursor_at=anchor)
    document = editor.document()

    def forbidden() -> str:
        raise AssertionError("toPlainText() on the streaming path")

    monkeypatch.setattr(editor, "toPlainText", forbidden)
    monkeypatch.setattr(document, "toPlainText", forbidden)
    # ~2,000 tokens in the batches of ~10 that the controller sends every ~30 ms
    deltas = [" ".join(f"word{n}" for n in range(b, b + 10)) + " " for b in range(0, 2000, 10)]
    editor.begin_pending()
    for delta in deltas:
        editor.append_pending(delta)
    assert editor.pending_text() == "".join(deltas)
    accepted = editor.accept_pending()
    monkeypatch.undo()

    assert editor.toPlainText() == novel[:anchor] + accepted + novel[anchor:]


def test_alt_left_and_right_ask_for_other_takes_only_while_pending(qtbot) -> None:
    editor = make_editor(qtbot)
    asked: list[str] = []
    editor.previousTakeRequested.connect(lambda: asked.append("previous"))
    editor.nextTakeRequested.connect(lambda: asked.append("next"))
    qtbot.keyClick(editor, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert asked == []
    stream(editor, "She smiled.")
    qtbot.keyClick(editor, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert asked == ["previous", "next"]
    assert editor.pending_text() == " She smiled."  # the keys themselves change nothing


def test_replace_pending_swaps_the_take_in_place_as_one_undo_step(qtbot) -> None:
    editor = make_editor(qtbot, "The king", cursor_at=8)
    stream(editor, "ruled", " wisely.")
    editor.replace_pending("slept.")
    assert editor.toPlainText() == "The king slept."
    assert editor.pending_text() == " slept."
    assert editor.textCursor().position() == 8  # the writer's cursor stays put
    editor.replace_pending("")
    assert editor.toPlainText() == "The king" and editor.has_pending()
    editor.append_pending("laughed.")
    assert editor.accept_pending() == " laughed."
    undo_keys(qtbot, editor)
    assert editor.toPlainText() == "The king"
