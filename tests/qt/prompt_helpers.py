"""A stand-in for FilePrompts that answers from a script and records what was asked.

Tests of the manuscript controller set `window.manuscript.prompts = ScriptedPrompts()` and
queue the writer's answers; an unscripted question gets the answer that changes nothing, as a
dismissed dialog does. The real dialogs are tested on their own (test_file_prompts.py).
"""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from storyloom.gui.dialogs.file_prompts import DiskChoice, LockChoice, UnsavedChoice


class ScriptedPrompts:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.messages: list[str] = []
        self.compared: list[tuple[str, str]] = []
        self._answers: dict[str, deque[Any]] = defaultdict(deque)

    def answer(self, question: str, *answers: Any) -> ScriptedPrompts:
        self._answers[question].extend(answers)
        return self

    def _next(self, question: str, default: Any) -> Any:
        self.asked.append(question)
        queue = self._answers[question]
        return queue.popleft() if queue else default

    def unsaved_changes(self, title: str) -> UnsavedChoice:
        return self._next("unsaved_changes", UnsavedChoice.CANCEL)

    def open_large_file(self, problem: Exception) -> bool:
        self.messages.append(str(problem))
        return self._next("open_large_file", False)

    def locked(self, path: Path, owner: Any) -> LockChoice:
        self.messages.append(owner.describe())
        return self._next("locked", LockChoice.CANCEL)

    def changed_on_disk(self, path: Path, mine: str, theirs: str) -> DiskChoice:
        self.compared.append((mine, theirs))
        return self._next("changed_on_disk", DiskChoice.UNDECIDED)

    def save_failed(self, message: str, *, offer_save_as: bool) -> bool:
        self.messages.append(message)
        return self._next("save_failed", False) if offer_save_as else False

    def problem(self, title: str, message: str) -> None:
        self.asked.append("problem")
        self.messages.append(message)

    def open_path(self, folder: Path) -> Path | None:
        return self._next("open_path", None)

    def save_path(self, suggestion: Path) -> Path | None:
        self.messages.append(f"suggested {suggestion}")
        return self._next("save_path", None)
