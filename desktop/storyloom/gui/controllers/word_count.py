"""Word counts for the status bar: the document, the selection, and this session's progress.

Counting is cheap (storyloom.core.word_count.WordCounter counts only changed paragraphs), but
it still waits until the editor has been quiet for DELAY_MS. The pending continuation
is not the writer's text and is not counted.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from storyloom.core.word_count import WordCounter, WordCounts, count_words
from storyloom.gui.editor_text import editor_snapshot
from storyloom.gui.widgets.story_editor import StoryEditor

DELAY_MS = 300


class WordCountController(QObject):
    counted = Signal(object)  # WordCounts

    def __init__(self, editor: StoryEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.counts = WordCounts(0, 0, 0)
        self._session_start: int | None = None
        self._counter = WordCounter()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DELAY_MS)
        self.timer.timeout.connect(self.recount)
        editor.textChanged.connect(self.timer.start)
        editor.selectionChanged.connect(self.timer.start)

    def start_session(self) -> None:
        """A manuscript was opened (or begun): count its words from here."""
        self._session_start = None
        self.recount()

    def recount(self) -> None:
        self.timer.stop()
        text, _ = editor_snapshot(self.editor)
        document = self._counter.count(text)
        if self._session_start is None:
            self._session_start = document
        cursor = self.editor.textCursor()
        selection = count_words(cursor.selectedText()) if cursor.hasSelection() else 0
        self.counts = WordCounts(document, selection, document - self._session_start)
        self.counted.emit(self.counts)
