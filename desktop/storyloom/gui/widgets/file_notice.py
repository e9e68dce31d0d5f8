"""A banner above the story for what the writer should know about the open manuscript: it was
read in a guessed encoding, it is open read-only, it vanished from disk, a backup failed."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget

from storyloom.gui.widgets.banners import Banner


class FileNoticeBanner(Banner):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fileNotice")
        self.dismiss_button = QPushButton("Dismiss", self)
        self.dismiss_button.clicked.connect(self.hide)
        self.buttons.addStretch(1)
        self.buttons.addWidget(self.dismiss_button)

    def show_notice(self, level: str, message: str) -> None:
        """Show `message` ("info" or "warning"); a second notice joins the one shown."""
        if self.isVisible():
            if message in self.message.text():
                return
            message = f"{self.message.text()}\n{message}"
            level = "warning" if "warning" in (level, self.property("level")) else level
        self.set_level(level)
        self.message.setText(message)
        self.show()
