"""The real file dialogs: which answer each button gives, and that a dismissed dialog changes
nothing. QMessageBox.exec is replaced by a click on the named button (or by no click)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from storyloom.core.document_lock import LockOwner
from storyloom.core.text_files import FileProblem, ProblemKind
from storyloom.gui.dialogs.file_prompts import DiskChoice, FilePrompts, LockChoice, UnsavedChoice

OWNER = LockOwner(4242, "writing-desk", "maren", "2025-05-01T09:00:00")


@dataclass
class Clicks:
    """Button labels to click, one per message box shown (boxes beyond them are dismissed),
    and what each box showed: its text, details and button labels."""

    plan: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def append(self, label: str) -> None:
        self.plan.append(label)

    def extend(self, labels: list[str]) -> None:
        self.plan.extend(labels)

    def exec_(self, box: QMessageBox) -> int:
        labels = [button.text() for button in box.buttons()]
        self.seen.append(f"{box.text()} | {box.informativeText()} | {labels}")
        if self.plan:
            wanted = self.plan.pop(0)
            [button] = [b for b in box.buttons() if b.text() == wanted]
            button.click()
        return 0


@pytest.fixture
def clicks(monkeypatch: pytest.MonkeyPatch) -> Clicks:
    clicks = Clicks()
    monkeypatch.setattr(QMessageBox, "exec", lambda box: clicks.exec_(box))
    return clicks


@pytest.fixture
def prompts(qtbot) -> FilePrompts:
    parent = QWidget()
    qtbot.addWidget(parent)
    return FilePrompts(parent)


@pytest.mark.parametrize(
    ("label", "choice"),
    [
        ("Save", UnsavedChoice.SAVE),
        ("Don't Save", UnsavedChoice.DISCARD),
        ("Cancel", UnsavedChoice.CANCEL),
        (None, UnsavedChoice.CANCEL),
    ],
)
def test_unsaved_changes(prompts: FilePrompts, clicks, label, choice) -> None:
    if label:
        clicks.append(label)
    assert prompts.unsaved_changes("story.md") is choice
    assert "Save the changes to “story.md”?" in clicks.seen[0]


@pytest.mark.parametrize(
    ("label", "choice"),
    [
        ("Open Read-Only", LockChoice.READ_ONLY),
        ("Open Anyway", LockChoice.TAKE_OVER),
        (None, LockChoice.CANCEL),
    ],
)
def test_lock_conflict(prompts: FilePrompts, clicks, label, choice) -> None:
    if label:
        clicks.append(label)
    assert prompts.locked(Path("/books/story.md"), OWNER) is choice
    assert "maren on writing-desk (Storyloom process 4242)" in clicks.seen[0]


def test_changed_on_disk_compare_then_decide(
    prompts: FilePrompts, clicks, no_modal_dialogs: list[str]
) -> None:
    clicks.extend(["Compare…", "Keep Mine"])
    choice = prompts.changed_on_disk(Path("story.md"), "Mine.\n", "Theirs.\n")
    assert choice is DiskChoice.KEEP_MINE
    assert no_modal_dialogs == ["Compare"]  # shown between the two questions
    assert len(clicks.seen) == 2
    clicks.append("Reload")
    assert prompts.changed_on_disk(Path("story.md"), "a", "b") is DiskChoice.RELOAD
    assert prompts.changed_on_disk(Path("story.md"), "a", "b") is DiskChoice.UNDECIDED


def test_save_failed_offers_save_as_only_where_it_helps(prompts: FilePrompts, clicks) -> None:
    clicks.append("Save As…")
    assert prompts.save_failed("The folder is read-only.", offer_save_as=True)
    assert not prompts.save_failed("The folder is read-only.", offer_save_as=True)
    assert not prompts.save_failed("The disk is full.", offer_save_as=False)
    assert "['OK']" in clicks.seen[-1]


def test_large_file_question(prompts: FilePrompts, clicks) -> None:
    problem = FileProblem(ProblemKind.TOO_LARGE, "“huge.txt” is 80 MB", size=80 << 20)
    clicks.append("Open")
    assert prompts.open_large_file(problem)
    assert not prompts.open_large_file(problem)


def test_file_dialogs_cancelled_give_no_path(
    prompts: FilePrompts, no_modal_dialogs: list[str], tmp_path: Path
) -> None:
    assert prompts.open_path(tmp_path) is None
    assert prompts.save_path(tmp_path / "Untitled.md") is None
    assert no_modal_dialogs == ["Open Manuscript", "Save Manuscript As"]


def test_no_dialog_outlives_its_question(
    prompts: FilePrompts, clicks, no_modal_dialogs: list[str], tmp_path: Path
) -> None:
    """Each question builds its dialog on the window: once answered, it must go (a long
    session asks hundreds of them)."""
    clicks.extend(["Compare…", "Reload", "Save"])
    prompts.changed_on_disk(Path("story.md"), "Mine.\n", "Theirs.\n")
    assert prompts.unsaved_changes("story.md") is UnsavedChoice.SAVE  # answered, then deleted
    prompts.problem("Cannot open", "Gone.")
    prompts.open_path(tmp_path)
    prompts.save_path(tmp_path / "Untitled.md")
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert prompts.parent.findChildren(QDialog) == []
