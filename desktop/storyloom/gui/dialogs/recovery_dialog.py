"""After a crash: what the recovery journal holds, and what to do with each manuscript.

Non-modal (`open()`), so it never runs a nested event loop at start-up. Each manuscript that a
dead Storyloom left unsaved is listed with a diff-like preview against the file on disk and the
continuation that was pending, if any. The writer recovers it into the editor, saves it under
a name, or discards it (a copy stays in the journal's `discarded` folder); "Decide Later"
leaves everything for the next start. Nothing is ever dropped without one of those choices.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.journal import Orphan
from storyloom.core.text_diff import diff_lines
from storyloom.core.text_files import FileProblem, read_manuscript
from storyloom.core.word_count import count_words
from storyloom.gui.widgets.diff_view import DiffView


class RecoveryDialog(QDialog):
    recoverRequested = Signal(object)  # Orphan
    saveAsRequested = Signal(object)  # Orphan
    discardRequested = Signal(object)  # Orphan

    def __init__(self, orphans: list[Orphan], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recover unsaved work")
        self.setObjectName("recoveryDialog")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.orphans = list(orphans)
        self._setup_ui()
        for orphan in self.orphans:
            self.list.addItem(_item(orphan))
        self.list.setCurrentRow(0)
        self.resize(900, 600)

    def _setup_ui(self) -> None:
        intro = QLabel(
            "Storyloom stopped before these changes were saved. Nothing has been lost: "
            "choose what to do with each. (− is the file on disk, + the text Storyloom kept.)",
            self,
        )
        intro.setWordWrap(True)
        self.list = QListWidget(self)
        self.list.setObjectName("recoveryList")
        self.list.currentRowChanged.connect(self._show)
        self.list.setMaximumWidth(300)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.preview = DiffView(self)
        self.pending_label = QLabel(
            "A continuation was pending (not yet accepted). Recovering brings it back "
            "pending; Save As leaves it out:",
            self,
        )
        self.pending_label.setWordWrap(True)
        self.pending = QPlainTextEdit(self)
        self.pending.setReadOnly(True)
        self.pending.setMaximumHeight(90)
        self.recover_button = QPushButton("Recover", self)
        self.recover_button.setDefault(True)
        self.save_as_button = QPushButton("Save As…", self)
        self.discard_button = QPushButton("Discard", self)
        self.discard_button.setToolTip("A copy stays in Storyloom's recovery folder.")
        self.later_button = QPushButton("Decide Later", self)
        self.recover_button.clicked.connect(lambda: self._request(self.recoverRequested))
        self.save_as_button.clicked.connect(lambda: self._request(self.saveAsRequested))
        self.discard_button.clicked.connect(lambda: self._request(self.discardRequested))
        self.later_button.clicked.connect(self.reject)

        details = QVBoxLayout()
        details.addWidget(self.summary)
        details.addWidget(self.preview, 1)
        details.addWidget(self.pending_label)
        details.addWidget(self.pending)
        columns = QHBoxLayout()
        columns.addWidget(self.list)
        columns.addLayout(details, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        buttons.addWidget(self.later_button)
        buttons.addWidget(self.save_as_button)
        buttons.addWidget(self.recover_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(columns, 1)
        layout.addLayout(buttons)

    @property
    def current(self) -> Orphan | None:
        row = self.list.currentRow()
        return self.orphans[row] if 0 <= row < len(self.orphans) else None

    def remove(self, orphan: Orphan) -> None:
        """`orphan` has been dealt with; close once none is left."""
        row = self.orphans.index(orphan)
        self.orphans.pop(row)
        self.list.takeItem(row)
        if not self.orphans:
            self.accept()

    def _request(self, signal: SignalInstance) -> None:
        if self.current is not None:
            signal.emit(self.current)

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.orphans):
            return
        entry = self.orphans[row].entry
        on_disk, where = "", "It was never saved."
        if entry.path is not None:
            where = str(entry.path)
            try:
                on_disk = read_manuscript(entry.path, allow_large=True).text
            except FileProblem as problem:
                where += f" — {problem}"
        diff = diff_lines(on_disk, entry.text)
        when = datetime.fromtimestamp(entry.changed_at).strftime("%Y-%m-%d %H:%M:%S")
        self.summary.setText(
            f"<b>{escape(entry.title)}</b> — last change {when}, "
            f"{count_words(entry.text):,} words.<br>{escape(where)}<br>{diff.summary()}"
        )
        self.preview.show_diff(diff)
        pending = entry.pending.text if entry.pending else ""
        self.pending_label.setVisible(bool(pending))
        self.pending.setVisible(bool(pending))
        self.pending.setPlainText(pending)


def _item(orphan: Orphan) -> QListWidgetItem:
    entry = orphan.entry
    when = datetime.fromtimestamp(entry.changed_at).strftime("%d %b %H:%M")
    item = QListWidgetItem(f"{entry.title}\n{when}")
    item.setToolTip(str(entry.path) if entry.path else "never saved")
    return item
