"""A read-only view of a line diff (storyloom.core.text_diff): added lines green, removed red."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from storyloom.core.text_diff import TextDiff

_BACKGROUNDS = {"+": "#d1e7dd", "-": "#f8d7da", "@": "#e2e3e5"}
_MARKS = {"+": "+ ", "-": "− ", " ": "  ", "@": "⋯ "}


class DiffView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setObjectName("diffView")

    def show_diff(self, diff: TextDiff) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        for n, line in enumerate(diff.lines):
            fmt = QTextCharFormat()
            if line.kind in _BACKGROUNDS:
                fmt.setBackground(QColor(_BACKGROUNDS[line.kind]))
                fmt.setForeground(QColor("#000000"))
            if line.kind == "@":
                fmt.setFontWeight(QFont.Weight.Bold)
            if n:
                cursor.insertBlock()
            cursor.insertText(_MARKS[line.kind] + line.text, fmt)
        if not diff.lines:
            cursor.insertText(diff.summary())
        self.moveCursor(QTextCursor.MoveOperation.Start)
