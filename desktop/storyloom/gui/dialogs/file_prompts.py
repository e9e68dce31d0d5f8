"""Every question the file actions ask the writer, in one place.

Each prompt is a method that returns the writer's decision as a value; the manuscript controller
never touches a dialog itself, and a test replaces this object (or answers the message boxes)
instead of clicking through windows. Message boxes are built and `exec()`ed here, never through
Qt's static helpers, so the test suite's patch of `exec` covers them all.

A box closed without an answer (Esc, the window's close button) always means the choice that
changes nothing: cancel, keep what is in the editor, do not overwrite. Every dialog is built
anew on the window for its question and deleted once answered, so none outlives it.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TypeVar

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.document_lock import LockOwner
from storyloom.core.text_diff import diff_lines
from storyloom.core.text_files import FileProblem
from storyloom.gui.widgets.diff_view import DiffView

T = TypeVar("T")

MANUSCRIPT_FILTER = "Manuscripts (*.md *.txt);;Markdown (*.md);;Plain text (*.txt);;All files (*)"


class UnsavedChoice(enum.Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


class LockChoice(enum.Enum):
    READ_ONLY = "read-only"
    TAKE_OVER = "take over"
    CANCEL = "cancel"


class DiskChoice(enum.Enum):
    RELOAD = "reload"
    KEEP_MINE = "keep mine"
    UNDECIDED = "undecided"


class FilePrompts:
    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    def unsaved_changes(self, title: str) -> UnsavedChoice:
        return self._ask(
            QMessageBox.Icon.Warning,
            "Unsaved changes",
            f"Save the changes to “{title}”?",
            "If you don't, the changes since the last save are lost.",
            {
                "Save": (QMessageBox.ButtonRole.AcceptRole, UnsavedChoice.SAVE),
                "Don't Save": (QMessageBox.ButtonRole.DestructiveRole, UnsavedChoice.DISCARD),
                "Cancel": (QMessageBox.ButtonRole.RejectRole, UnsavedChoice.CANCEL),
            },
            default=UnsavedChoice.CANCEL,
        )

    def open_large_file(self, problem: FileProblem) -> bool:
        return self._ask(
            QMessageBox.Icon.Question,
            "Large file",
            str(problem),
            "Open it anyway?",
            {
                "Open": (QMessageBox.ButtonRole.AcceptRole, True),
                "Cancel": (QMessageBox.ButtonRole.RejectRole, False),
            },
            default=False,
        )

    def locked(self, path: Path, owner: LockOwner) -> LockChoice:
        return self._ask(
            QMessageBox.Icon.Warning,
            "Open in another Storyloom",
            f"“{path.name}” is already open in another Storyloom: {owner.describe()}.",
            "Open it read-only here, so that only one window can change it? Open it anyway "
            "only if you are sure that Storyloom is not running any more (after a crash on "
            "another computer, say).",
            {
                "Open Read-Only": (QMessageBox.ButtonRole.AcceptRole, LockChoice.READ_ONLY),
                "Open Anyway": (QMessageBox.ButtonRole.DestructiveRole, LockChoice.TAKE_OVER),
                "Cancel": (QMessageBox.ButtonRole.RejectRole, LockChoice.CANCEL),
            },
            default=LockChoice.CANCEL,
        )

    def changed_on_disk(self, path: Path, mine: str, theirs: str) -> DiskChoice:
        """Reload / keep mine; "Compare" shows the differences and asks again."""
        while True:
            choice = self._ask(
                QMessageBox.Icon.Warning,
                "Changed on disk",
                f"“{path.name}” was changed by another program.",
                "Reload it (your version is kept as a backup), or keep the text in Storyloom "
                "(saving will then replace the other version)?",
                {
                    "Reload": (QMessageBox.ButtonRole.AcceptRole, DiskChoice.RELOAD),
                    "Keep Mine": (QMessageBox.ButtonRole.DestructiveRole, DiskChoice.KEEP_MINE),
                    "Compare…": (QMessageBox.ButtonRole.ActionRole, None),
                    "Cancel": (QMessageBox.ButtonRole.RejectRole, DiskChoice.UNDECIDED),
                },
                default=DiskChoice.UNDECIDED,
            )
            if choice is not None:
                return choice
            self.compare(
                f"“{path.name}”: on disk (−) and in Storyloom (+)",
                theirs,
                mine,
            )

    def compare(self, title: str, old: str, new: str) -> None:
        dialog = QDialog(self.parent)
        dialog.setWindowTitle("Compare")
        dialog.setObjectName("compareDialog")
        diff = diff_lines(old, new)
        view = DiffView(dialog)
        view.show_diff(diff)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(QLabel(f"{title} — {diff.summary()}", dialog))
        layout.addWidget(view)
        layout.addWidget(buttons)
        dialog.resize(760, 520)
        try:
            dialog.exec()
        finally:
            dialog.deleteLater()

    def save_failed(self, message: str, *, offer_save_as: bool) -> bool:
        """Show why saving failed; True when the writer wants to save elsewhere."""
        buttons: dict[str, tuple[QMessageBox.ButtonRole, bool]] = {
            "OK": (QMessageBox.ButtonRole.RejectRole, False)
        }
        if offer_save_as:
            buttons = {
                "Save As…": (QMessageBox.ButtonRole.AcceptRole, True),
                "Cancel": (QMessageBox.ButtonRole.RejectRole, False),
            }
        return self._ask(
            QMessageBox.Icon.Critical, "Not saved", message, "", buttons, default=False
        )

    def problem(self, title: str, message: str) -> None:
        self._ask(
            QMessageBox.Icon.Warning,
            title,
            message,
            "",
            {"OK": (QMessageBox.ButtonRole.AcceptRole, None)},
            default=None,
        )

    def open_path(self, folder: Path) -> Path | None:
        dialog = QFileDialog(self.parent, "Open Manuscript", str(folder), MANUSCRIPT_FILTER)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        return self._chosen(dialog)

    def save_path(self, suggestion: Path) -> Path | None:
        dialog = QFileDialog(self.parent, "Save Manuscript As", str(suggestion), MANUSCRIPT_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("md")
        return self._chosen(dialog)

    def _chosen(self, dialog: QFileDialog) -> Path | None:
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
                return None
            return Path(dialog.selectedFiles()[0])
        finally:
            dialog.deleteLater()

    def _ask(
        self,
        icon: QMessageBox.Icon,
        title: str,
        text: str,
        details: str,
        buttons: dict[str, tuple[QMessageBox.ButtonRole, T]],
        *,
        default: T,
    ) -> T:
        """Show a message box with `buttons` (label -> (role, value)); the clicked value."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, self.parent)
        box.setObjectName("filePrompt")
        if details:
            box.setInformativeText(details)
        values: dict[int, T] = {}
        for label, (role, value) in buttons.items():
            button = box.addButton(label, role)
            values[id(button)] = value
            if value == default and value is not None:
                box.setDefaultButton(button)
        try:
            box.exec()
            clicked = box.clickedButton()
            return values.get(id(clicked), default) if clicked is not None else default
        finally:
            box.deleteLater()
