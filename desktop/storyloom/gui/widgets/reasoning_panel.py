"""The Reasoning panel: the model's plan as it streams, and the plans of earlier continuations."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

_PREVIEW_WORDS = 8


class ReasoningPanel(QWidget):
    """Render-only: the controller and the window tell it what to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._current: QListWidgetItem | None = None
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.notice = QLabel(self)
        self.notice.setObjectName("reasoningNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()

        self.text = QPlainTextEdit(self)
        self.text.setObjectName("reasoningText")
        self.text.setReadOnly(True)
        self.text.setPlaceholderText(
            "Press Ctrl+Enter to continue the story. The model's thinking appears here."
        )

        self.history = QListWidget(self)
        self.history.setObjectName("reasoningHistory")
        self.history.currentItemChanged.connect(self._show_item)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.text)
        splitter.addWidget(self.history)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice)
        layout.addWidget(splitter)

    def begin(self, label: str) -> None:
        """A new continuation: clear the view and add it to the history."""
        self.clear_notice()
        self._current = QListWidgetItem(label)
        self._current.setData(Qt.ItemDataRole.UserRole, "")
        self.history.insertItem(0, self._current)
        self.history.blockSignals(True)
        self.history.setCurrentItem(self._current)
        self.history.blockSignals(False)
        self.text.clear()

    def append(self, text: str) -> None:
        if self._current is None:
            self.begin("Continuation")
        assert self._current is not None
        self._current.setData(
            Qt.ItemDataRole.UserRole, self._current.data(Qt.ItemDataRole.UserRole) + text
        )
        if self.history.currentItem() is self._current:
            cursor = self.text.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText(text)
            self.text.ensureCursorVisible()

    def set_answer_preview(self, answer: str) -> None:
        """Name the history entry after the first words of its prose."""
        if self._current is not None and answer.strip():
            words = answer.split()
            preview = " ".join(words[:_PREVIEW_WORDS]) + (
                "…" if len(words) > _PREVIEW_WORDS else ""
            )
            self._current.setText(preview)

    def show_notice(self, message: str, *, error: bool = False) -> None:
        self.notice.setText(message)
        self.notice.setProperty("error", error)
        self.notice.setStyleSheet(
            "QLabel { border-radius: 4px; padding: 6px; "
            + (
                "background: #f8d7da; color: #58151c; }"
                if error
                else "background: #fff3cd; color: #664d03; }"
            )
        )
        self.notice.show()

    def clear_notice(self) -> None:
        self.notice.clear()
        self.notice.hide()

    def reasoning_of(self, row: int) -> str:
        item = self.history.item(row)
        return item.data(Qt.ItemDataRole.UserRole) if item else ""

    def _show_item(self, item: QListWidgetItem | None) -> None:
        self.text.setPlainText(item.data(Qt.ItemDataRole.UserRole) if item else "")
