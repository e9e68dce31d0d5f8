"""The main window: the story editor in the centre, a toolbar and a status bar."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QPlainTextEdit, QWidget

from storyloom import __version__


class MainWindow(QMainWindow):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Storyloom")
        self.resize(1100, 760)
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("storyEditor")
        self.editor.setPlaceholderText("Once upon a time…")
        self.setCentralWidget(self.editor)
        self.toolbar = self.addToolBar("Story")
        self.toolbar.setObjectName("storyToolbar")
        self.status_label = QLabel(f"Storyloom {__version__}", self)
        self.statusBar().addPermanentWidget(self.status_label)
