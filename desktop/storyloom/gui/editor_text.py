"""The story editor's text as a manuscript: the writer's words apart from a pending continuation.

The pending continuation lives inside the editor's document (tinted), but it is not the writer's
text until accepted: saving writes the document without it, and the recovery journal keeps it
apart. Positions in a QTextDocument count UTF-16 code units, so the split is done on UTF-16
bytes; a character outside the Basic Multilingual Plane (an emoji) would otherwise shift it.

`toRawText()`, not `toPlainText()`: the latter turns no-break spaces into plain spaces, which
would quietly change a French manuscript's typography on every save.
"""

from __future__ import annotations

from PySide6.QtGui import QTextCursor

from storyloom.core.journal import PendingText
from storyloom.gui.widgets.story_editor import StoryEditor

_PARAGRAPH = "\u2029"  # how a QTextDocument separates its blocks


def editor_snapshot(editor: StoryEditor) -> tuple[str, PendingText | None]:
    """(the writer's text, the pending continuation or None), with "\n" line endings."""
    raw = editor.document().toRawText()
    if not editor.has_pending():
        return raw.replace(_PARAGRAPH, "\n"), None
    start, end = editor.pending_range()
    units = raw.encode("utf-16-le")
    before, pending, after = (
        units[: 2 * start].decode("utf-16-le").replace(_PARAGRAPH, "\n"),
        units[2 * start : 2 * end].decode("utf-16-le").replace(_PARAGRAPH, "\n"),
        units[2 * end :].decode("utf-16-le").replace(_PARAGRAPH, "\n"),
    )
    return before + after, PendingText(len(before), pending)


def replace_text(editor: StoryEditor, text: str, pending: PendingText | None = None) -> None:
    """Put `text` in the editor as one undoable edit (Ctrl+Z brings the old text back), then
    show `pending` as a pending continuation again, for the writer to accept or reject."""
    if editor.has_pending():
        editor.reject_pending()
    cursor = QTextCursor(editor.document())
    cursor.beginEditBlock()
    cursor.select(QTextCursor.SelectionType.Document)
    cursor.insertText(text)
    cursor.endEditBlock()
    if pending is None or not pending.text:
        return
    writer = editor.textCursor()
    writer.setPosition(_utf16_length(text[: min(pending.position, len(text))]))
    editor.setTextCursor(writer)
    editor.begin_pending()
    editor.append_pending(pending.text)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
