"""The story editor: plain-text writing plus one *pending continuation* span.

A controller streams the model's continuation in with `begin_pending()` and `append_pending()`;
the text appears tinted at the writer's cursor and stays separate from the writer's own text until
the controller calls `accept_pending()` or `reject_pending()`. The keys that ask for those
decisions only emit signals: the controller may still be streaming and decides what to do.

Undo design. Qt keeps one undo stack per document and every insert lands on it, so:

* While streaming, all pending inserts of a stretch go into ONE undo step: the first opens an edit
  block, later ones join it for as long as that block is still the newest step. "Still the
  newest" is the pair (available undo steps, document revision) recorded after our block: any
  edit, undo, redo or edit block opened by anyone else bumps the revision, and clearing the stack
  changes the step count. An edit elsewhere mid-stream therefore ends the stretch; the next
  insert opens a new step.
* Accept and reject first *retract* the span: when our step is the newest, `document().undo()`
  pops it (and the redo stack is cleared so Ctrl+Shift+Z cannot bring it back), leaving the
  history exactly as it was before the stretch; whatever is left (text streamed before an edit
  elsewhere, whose step lies under the writer's edit) is removed as a step of its own.
* Accept then re-inserts the text as normal writer text in one new edit block, so one Ctrl+Z
  removes the whole continuation and one Ctrl+Shift+Z brings it back, edits elsewhere or not.
  The block ends with a (no-op) char-format command: Qt merges a plain insert into a preceding
  insert, so without it the writer's next keystrokes would join the continuation's undo step.
* Known edge case: if the writer edited elsewhere mid-stream, the text streamed before that edit
  has an insert step *under* the writer's step. Undoing past the accepted (or rejected)
  continuation first passes through a step that brings that early text back, tinted but no longer
  pending, and the next Ctrl+Z removes it again. Qt's history cannot be reordered, and taking the
  span out before each foreign edit would change what word-wise keys (Ctrl+Backspace, ...) do.

Editing rules while a continuation is pending:

* The span is tracked by two QTextCursors, which Qt moves with every edit: typing, deleting or
  pasting before the span shifts it; text inserted at either edge by anyone else stays outside.
* The writer's cursor is never dragged by streamed text: it stays where the writer put it (at the
  anchor after `begin_pending()`, like ghost text in a code editor).
* Typing on: text typed (a printable character, Enter, an input-method commit) with no selection
  at the span's anchor or end emits `acceptRequested`; if the span is still pending when the
  slots return, the editor accepts it itself. Either way the text then goes in at the cursor,
  which accepting moved to the end of the continuation.
* Text typed or pasted *inside* the span (or over a selection that overlaps it) accepts the span
  first, in place (emitting `acceptRequested` as typing on does), and then applies. Deleting
  inside the span just shrinks it.
* Ctrl+Z while pending emits `rejectRequested` instead of undoing: the only thing the writer can
  mean is "take that back", and undoing the stream step by step would eat it from the middle.
* Alt+Left / Alt+Right while pending ask for the previous or next take at the same place; the
  controller answers with `replace_pending()`, which swaps the span's text in place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from PySide6.QtCore import QEvent, QMimeData, Qt, Signal, SignalInstance
from PySide6.QtGui import (
    QColor,
    QFont,
    QInputMethodEvent,
    QKeyEvent,
    QKeySequence,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from storyloom.core.settings import DEFAULT_FONT_SIZE

_SERIF_FAMILIES = ["Literata", "Georgia", "Noto Serif", "DejaVu Serif", "Liberation Serif"]
_DOCUMENT_MARGIN = 24
_TINT_ALPHA = 56  # of 255: a wash of the highlight colour, readable on light and dark themes
_FOREGROUND_WEIGHT = 0.7  # pending text colour: 70 % text colour, 30 % background colour

# A continuation starting with one of these gets a joining space after a non-space character...
_OPENING_QUOTES = "\"'“‘«„"
# ...unless that character opens something itself. (A straight quote there usually closes dialogue.)
_OPENERS = "“‘«„([{"


class StoryEditor(QPlainTextEdit):
    """Plain-text story editor that can show one pending (not yet accepted) continuation."""

    pendingChanged = Signal(bool)
    acceptRequested = Signal()
    rejectRequested = Signal()
    retryRequested = Signal()
    continueRequested = Signal()
    previousTakeRequested = Signal()
    nextTakeRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_writing_font("", DEFAULT_FONT_SIZE)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.document().setDocumentMargin(_DOCUMENT_MARGIN)
        self._start: QTextCursor | None = None
        self._end: QTextCursor | None = None
        self._needs_joiner = False
        self._undo_mark: tuple[int, int] | None = None
        self._span_edits = 0  # > 0 while this editor changes the pending span's text itself

    def set_writing_font(self, family: str, point_size: float) -> None:
        """The story's font; an empty `family` means the built-in book serifs."""
        font = QFont()
        font.setFamilies([family] if family else _SERIF_FAMILIES)
        font.setStyleHint(QFont.StyleHint.Serif)
        font.setPointSizeF(point_size)
        self.setFont(font)

    # -- the pending span ------------------------------------------------------------------------

    def has_pending(self) -> bool:
        """Whether a continuation is pending (begun and neither accepted nor rejected)."""
        return self._start is not None

    @property
    def changing_pending(self) -> bool:
        """Whether the document changes right now because this editor streams text into the
        pending span or takes it out (for listeners of the document's change signals, which
        cannot tell such a change from the writer's)."""
        return self._span_edits > 0

    def pending_range(self) -> tuple[int, int]:
        """Document positions (start, end) of the pending span, joiner included."""
        start, end = self._require_span()
        start_pos, end_pos = start.position(), end.position()
        if start_pos > end_pos:
            # Text inserted at an empty span's anchor went in before it, as it would before a
            # non-empty span; keep the span after it.
            end.setPosition(start_pos)
            end_pos = start_pos
        return start_pos, end_pos

    def pending_text(self) -> str:
        """The pending span's current text (joiner included); "" when nothing is pending."""
        if not self.has_pending():
            return ""
        # Paragraph and line separators (U+2029, U+2028: Shift+Enter) as "\n".
        return self._span_cursor().selectedText().replace("\u2029", "\n").replace("\u2028", "\n")

    def pending_format(self) -> QTextCharFormat:
        """The char format of pending text: a light highlight tint and a muted text colour."""
        palette = self.palette()
        tint = QColor(palette.color(QPalette.ColorRole.Highlight))
        tint.setAlpha(_TINT_ALPHA)
        fmt = QTextCharFormat()
        fmt.setBackground(tint)
        fmt.setForeground(
            _mix(
                palette.color(QPalette.ColorRole.Text),
                palette.color(QPalette.ColorRole.Base),
                _FOREGROUND_WEIGHT,
            )
        )
        return fmt

    def begin_pending(self) -> None:
        """Anchor an empty pending span at the writer's cursor.

        A selection collapses to its end (nothing the writer wrote is replaced). Raises
        RuntimeError if a continuation is already pending.
        """
        if self.has_pending():
            raise RuntimeError("a continuation is already pending")
        writer = self.textCursor()
        anchor = writer.selectionEnd()
        if writer.hasSelection():
            writer.setPosition(anchor)
            self.setTextCursor(writer)
        self._start = QTextCursor(self.document())
        self._start.setPosition(anchor)
        self._end = QTextCursor(self.document())
        self._end.setPosition(anchor)
        # Text anyone else inserts at the end must stay outside the span; append_pending()
        # moves the end itself.
        self._end.setKeepPositionOnInsert(True)
        self._needs_joiner = True
        self._undo_mark = None
        self.pendingChanged.emit(True)

    def append_pending(self, text: str) -> None:
        """Append streamed text at the end of the span, tinted; cheap (no whole-document work).

        The first non-empty text gets a joining space if it would glue onto the word before.
        Raises RuntimeError when nothing is pending: the span can go without the controller
        (a new text, an accept by the editor itself), so a streaming controller stops on
        `pendingChanged(False)`.
        """
        start, end = self._require_span()
        if not text:
            return
        start_pos, end_pos = self.pending_range()
        if self._needs_joiner:
            text = self._joined(text, start_pos)
            self._needs_joiner = False
        writer = self.textCursor()
        writer_anchor, writer_pos = writer.anchor(), writer.position()
        follow = self.viewport().rect().intersects(self.cursorRect(end))
        # Otherwise the writer is reading elsewhere: keep the line at the top of the view there,
        # even when the new lines go in above it.
        top = self.firstVisibleBlock()
        top_offset = self.verticalScrollBar().value() - top.firstLineNumber()

        cursor = QTextCursor(self.document())
        cursor.setPosition(end_pos)
        # For this insert only, the span grows over the new text as it goes in, so that it is
        # right already for whoever the document's change signals call.
        start.setKeepPositionOnInsert(True)
        end.setKeepPositionOnInsert(False)
        with self._editing_span():
            if self._history_is_ours():
                cursor.joinPreviousEditBlock()
            else:
                cursor.beginEditBlock()
            cursor.insertText(text, self.pending_format())
            cursor.endEditBlock()
        start.setKeepPositionOnInsert(False)
        end.setKeepPositionOnInsert(True)
        self._undo_mark = self._history_state()

        if end_pos in (writer_anchor, writer_pos):
            # Qt pushed the writer's cursor along with the insert; put that end of it back.
            moved_anchor = writer_anchor if writer_anchor == end_pos else writer.anchor()
            moved_pos = writer_pos if writer_pos == end_pos else writer.position()
            writer.setPosition(moved_anchor)
            writer.setPosition(moved_pos, QTextCursor.MoveMode.KeepAnchor)
            self.setTextCursor(writer)
        if follow:
            self._scroll_to(end)
        else:
            self.verticalScrollBar().setValue(top.firstLineNumber() + top_offset)

    def accept_pending(self) -> str:
        """Make the span normal writer text (one undo step), cursor at its end; return it.

        Raises RuntimeError when nothing is pending, like `reject_pending()`.
        """
        start, _ = self._require_span()
        text = self.pending_text()
        anchor = start.position()
        end_pos = anchor
        if text:
            self._retract()
            cursor = QTextCursor(self.document())
            cursor.setPosition(anchor)
            cursor.beginEditBlock()
            cursor.insertText(text, QTextCharFormat())
            end_pos = cursor.position()
            # Ends the step with a format command so that Qt does not merge the writer's next
            # keystrokes (plain inserts) into it; see the module docstring. Over the last
            # character only: over all of it, a redo put the cursor that far past the end.
            cursor.setPosition(end_pos - 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.setCharFormat(QTextCharFormat())
            cursor.endEditBlock()
        writer = self.textCursor()
        writer.setPosition(end_pos)
        self.setTextCursor(writer)
        self._forget_span()
        return text

    def replace_pending(self, text: str) -> None:
        """Show `text` as the pending continuation instead of the current one (another take),
        at the same place and as one undo step, joiner recomputed."""
        start, end = self._require_span()
        self._retract()
        end.setPosition(start.position())
        self._needs_joiner = True
        self._undo_mark = None
        self.append_pending(text)

    def reject_pending(self) -> str:
        """Remove the span (joiner included), leaving the writer's text as it was; return it."""
        self._require_span()
        text = self.pending_text()
        self._retract()
        self._forget_span()
        return text

    def setPlainText(self, text: str) -> None:
        """Replace the whole story; a pending continuation goes with the old text."""
        if self.has_pending():
            self._forget_span()
        super().setPlainText(text)

    # -- keys and input --------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        # A window-wide shortcut on the same key (a "Continue" action on Ctrl+Return, say) must
        # not steal the keys this editor answers in its current state.
        if event.type() == QEvent.Type.ShortcutOverride and self._command_for(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        command = self._command_for(event)
        if command is not None:
            command.emit()
            return
        text = event.text()
        if self.has_pending() and text and (text.isprintable() or text in "\r\n"):
            self._before_text_input()
        super().keyPressEvent(event)

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        if self.has_pending() and event.commitString():
            self._before_text_input()
        super().inputMethodEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasText()

    def insertFromMimeData(self, source: QMimeData) -> None:
        """Paste and drop plain text only, in the writer's format (never the pending tint)."""
        if self.has_pending() and self._overlaps_inside(self.textCursor()):
            self._accept_in_place()
        cursor = self.textCursor()
        cursor.insertText(source.text(), QTextCharFormat())  # Qt reads "\r\n" as one break
        self.setTextCursor(cursor)

    def _command_for(self, event: QKeyEvent) -> SignalInstance | None:
        """The signal a key stands for in the current state, or None for ordinary editing."""
        key = event.key()
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        pending = self.has_pending()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if modifiers == Qt.KeyboardModifier.ControlModifier:
                return self.acceptRequested if pending else self.continueRequested
            return None
        if not pending:
            return None
        if modifiers == Qt.KeyboardModifier.NoModifier:
            if key == Qt.Key.Key_Tab:
                return self.acceptRequested
            if key == Qt.Key.Key_Escape:
                return self.rejectRequested
        if key == Qt.Key.Key_R and modifiers == Qt.KeyboardModifier.ControlModifier:
            return self.retryRequested
        if modifiers == Qt.KeyboardModifier.AltModifier and key == Qt.Key.Key_Left:
            return self.previousTakeRequested
        if modifiers == Qt.KeyboardModifier.AltModifier and key == Qt.Key.Key_Right:
            return self.nextTakeRequested
        if event.matches(QKeySequence.StandardKey.Undo):
            return self.rejectRequested
        return None

    def _before_text_input(self) -> None:
        """Typing on at the span's edges; typing into the span accepts it first (in place)."""
        writer = self.textCursor()
        if not writer.hasSelection() and writer.position() in self.pending_range():
            self.acceptRequested.emit()
            if self.has_pending():  # the controller did not accept (it may still be streaming)
                self.accept_pending()
        elif self._overlaps_inside(writer):
            self._accept_in_place()

    def _overlaps_inside(self, cursor: QTextCursor) -> bool:
        start, end = self.pending_range()
        if cursor.hasSelection():
            return cursor.selectionStart() < end and cursor.selectionEnd() > start
        return start < cursor.position() < end

    def _accept_in_place(self) -> None:
        """Accept the span as typing on does (the controller stops a stream first, which may
        append the words it held back), keeping the writer's selection on the same characters:
        those up to the span's end counted from the start, those after it from the end."""
        _, end = self.pending_range()
        length = self.document().characterCount()
        writer = self.textCursor()
        marks = [(at, at <= end) for at in (writer.anchor(), writer.position())]
        self.acceptRequested.emit()
        if self.has_pending():  # nobody else accepted it
            self.accept_pending()
        shift = self.document().characterCount() - length
        anchor, position = (at if before_end else at + shift for at, before_end in marks)
        writer.setPosition(anchor)
        writer.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(writer)

    # -- helpers ---------------------------------------------------------------------------------

    def _require_span(self) -> tuple[QTextCursor, QTextCursor]:
        if self._start is None or self._end is None:
            raise RuntimeError("no continuation is pending")
        return self._start, self._end

    def _span_cursor(self) -> QTextCursor:
        start, end = self.pending_range()
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        return cursor

    def _joined(self, text: str, anchor: int) -> str:
        """`text` with a joining space if it would otherwise glue onto the word before."""
        if anchor == 0 or text[0].isspace():
            return text
        before = self.document().characterAt(anchor - 1)
        if before.isspace() or before in _OPENERS:
            return text
        if text[0].isalnum() or text[0] in _OPENING_QUOTES:
            return " " + text
        return text

    def _history_state(self) -> tuple[int, int]:
        document = self.document()
        return document.availableUndoSteps(), document.revision()

    def _history_is_ours(self) -> bool:
        """Whether the newest undo step is our pending edit block, untouched since."""
        return self._undo_mark is not None and self._undo_mark == self._history_state()

    def _retract(self) -> None:
        """Take the span's text out of the document, leaving as little undo history as possible."""
        document = self.document()
        with self._editing_span():
            if self._history_is_ours():
                document.undo()
                document.clearUndoRedoStacks(QTextDocument.Stacks.RedoStack)
            span = self._span_cursor()
            if span.hasSelection():  # streamed before an edit elsewhere: its step is not on top
                span.removeSelectedText()

    @contextlib.contextmanager
    def _editing_span(self) -> Iterator[None]:
        self._span_edits += 1
        try:
            yield
        finally:
            self._span_edits -= 1

    def _forget_span(self) -> None:
        self._start = self._end = None
        self._undo_mark = None
        self.pendingChanged.emit(False)

    def _scroll_to(self, cursor: QTextCursor) -> None:
        """Scroll down, line by line, until `cursor` is in view (following the stream)."""
        bar = self.verticalScrollBar()
        bottom = self.viewport().rect().bottom()
        while self.cursorRect(cursor).bottom() > bottom and bar.value() < bar.maximum():
            bar.setValue(bar.value() + 1)


def _mix(color: QColor, other: QColor, weight: float) -> QColor:
    """`weight` of `color` blended with the rest of `other`."""
    return QColor.fromRgbF(
        color.redF() * weight + other.redF() * (1 - weight),
        color.greenF() * weight + other.greenF() * (1 - weight),
        color.blueF() * weight + other.blueF() * (1 - weight),
    )
