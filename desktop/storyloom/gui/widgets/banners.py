"""The banners above the story: Ollama is not running, or the model is not installed.

Non-modal on purpose: the writer can keep writing while a banner waits, and nothing blocks
(tests included). Both are render-only; the window connects their buttons to controllers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.connection import ServerState, ServerStatus
from storyloom.core.models import PullProgress
from storyloom.gui.widgets.pull_progress import PullProgressRow

_STYLES = {
    "error": "background: #f8d7da; color: #58151c;",
    "warning": "background: #fff3cd; color: #664d03;",
    "info": "background: #cfe2ff; color: #052c65;",
}


class Banner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QHBoxLayout()
        self.buttons.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.message)
        layout.addLayout(self.buttons)
        self.hide()

    def set_level(self, level: str) -> None:
        self.setProperty("level", level)
        self.setStyleSheet(f"QFrame#{self.objectName()} {{ {_STYLES[level]} border-radius: 4px; }}")


class ConnectionPanel(Banner):
    retryRequested = Signal()
    startRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionPanel")
        self.command_label = QLabel("Start it with:", self)
        self.command = QLineEdit(self)
        self.command.setObjectName("startCommand")
        self.command.setReadOnly(True)
        self.copy_button = QPushButton("Copy", self)
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.command.text())
        )
        self.start_button = QPushButton("Start Ollama", self)
        self.start_button.setObjectName("startOllama")
        self.start_button.clicked.connect(self.startRequested)
        self.install_link = QLabel(self)
        self.install_link.setOpenExternalLinks(True)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setObjectName("retryConnection")
        self.retry_button.clicked.connect(self.retryRequested)
        for widget in (self.command_label, self.command, self.copy_button, self.start_button):
            self.buttons.addWidget(widget)
        self.buttons.addWidget(self.install_link)
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.retry_button)

    def show_status(
        self, status: ServerStatus, *, command: str, install_url: str, can_start: bool
    ) -> None:
        if status.state is ServerState.RUNNING:
            self.hide()
            return
        unreachable = status.state is ServerState.UNREACHABLE
        self.set_level("warning" if status.state is ServerState.TOO_OLD else "error")
        text = status.message
        if unreachable:
            text += " Storyloom needs it to continue your story; your text is safe meanwhile."
        self.message.setText(text)
        self.message.setToolTip(status.detail)
        self.command.setText(command)
        for widget in (self.command_label, self.command, self.copy_button):
            widget.setVisible(unreachable)
        self.start_button.setVisible(unreachable and can_start)
        self.start_button.setEnabled(True)
        verb = "Update" if status.state is ServerState.TOO_OLD else "Install"
        self.install_link.setText(f'<a href="{install_url}">{verb} Ollama…</a>')
        self.install_link.setVisible(status.state is not ServerState.NOT_OLLAMA)
        self.show()

    def show_starting(self) -> None:
        self.set_level("info")
        self.message.setText("Starting Ollama…")
        self.start_button.setEnabled(False)

    def show_problem(self, message: str) -> None:
        self.set_level("error")
        self.message.setText(message)
        self.start_button.setEnabled(True)
        self.show()


class ModelOfferPanel(Banner):
    """Offers to pull the model the writer chose, and shows the download until it is done."""

    pullRequested = Signal(str)
    cancelRequested = Signal(str)
    managerRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelOfferPanel")
        self.model = ""
        self.pull_button = QPushButton(self)
        self.pull_button.setObjectName("offerPull")
        self.pull_button.clicked.connect(lambda: self.pullRequested.emit(self.model))
        self.manager_button = QPushButton("Other models…", self)
        self.manager_button.clicked.connect(self.managerRequested)
        self.progress = PullProgressRow("", self)
        self.progress.cancelRequested.connect(self.cancelRequested)
        self.progress.hide()
        self.buttons.addWidget(self.pull_button)
        self.buttons.addWidget(self.progress, 1)
        self.buttons.addWidget(self.manager_button)

    def offer(self, model: str, message: str) -> None:
        self.model = model
        self.set_level("info")
        self.message.setText(message)
        self.pull_button.setText(f"Pull {model}")
        self.pull_button.show()
        self.progress.hide()
        self.show()

    def show_pulling(self, model: str) -> None:
        if model == self.model and not self.progress.isHidden():
            self.show()
            return  # already showing this download: keep its progress
        self.model = model
        self.message.setText(f"Downloading {model}. You can keep writing meanwhile.")
        self.pull_button.hide()
        self.progress.name = model
        self.progress.title.setText("")
        self.progress.show_progress(PullProgress("pulling manifest"))
        self.progress.show()
        self.show()

    def show_progress(self, model: str, progress: PullProgress) -> None:
        if model == self.model:
            self.progress.show_progress(progress)

    def show_failure(self, model: str, message: str) -> None:
        self.offer(model, message)
        self.set_level("error")
        self.pull_button.setText("Try again")
