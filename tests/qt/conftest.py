"""Qt fixtures: offscreen platform, a qasync loop per test, no modal dialog ever blocks."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

# Before any QApplication exists: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import ollama
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from storyloom.core.backend import OllamaBackend
from storyloom.core.profiles import load_profiles
from storyloom.core.settings import AppSettings
from storyloom.gui.dialogs.file_prompts import UnsavedChoice
from storyloom.gui.event_loop import StoryloomEventLoop
from storyloom.gui.main_window import MainWindow

from fake_ollama import FakeOllama
from prompt_helpers import ScriptedPrompts

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/qt/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.qt)


@pytest.fixture(autouse=True)
def collect_garbage_on_the_gui_thread() -> Iterator[None]:
    """As the app does (storyloom.gui.gc_guard): Qt objects in reference cycles must never be
    freed by a collection that a fake-server thread happens to trigger."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A modal dialog would hang an offscreen test: record it and answer for the writer."""
    shown: list[str] = []

    def fake_exec(self) -> int:
        shown.append(self.windowTitle() or type(self).__name__)
        return 0

    def static_box(parent, title, text, *args, **kwargs) -> QMessageBox.StandardButton:
        shown.append(title)
        return QMessageBox.StandardButton.NoButton  # as if closed without an answer

    def static_file_dialog(parent=None, caption="", *args, **kwargs) -> tuple[str, str]:
        shown.append(caption)
        return "", ""  # cancelled

    monkeypatch.setattr(QDialog, "exec", fake_exec)
    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    # Qt's static helpers run their own C++ event loop, which the patches above never see.
    for name in ("question", "information", "warning", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(static_box))
    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(static_file_dialog))
    return shown


@dataclass
class AsyncRunner:
    """Runs a coroutine on a qasync loop over the test's QApplication, as the app does.

    Clean-ups registered with `at_exit` run at the end of the same loop: an httpx connection
    must be closed on the loop that opened it.
    """

    qapp: QApplication
    cleanups: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    def at_exit(self, cleanup: Callable[[], Awaitable[object]]) -> None:
        self.cleanups.append(cleanup)

    def __call__(self, make_coro: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        async def bounded() -> T:
            try:
                return await asyncio.wait_for(make_coro(), timeout)
            finally:
                for cleanup in self.cleanups:
                    await cleanup()

        with asyncio.Runner(loop_factory=lambda: StoryloomEventLoop(self.qapp)) as runner:
            return runner.run(bounded())


@pytest.fixture
def run_async(qapp: QApplication) -> AsyncRunner:
    return AsyncRunner(qapp)


@pytest.fixture
def prompts() -> ScriptedPrompts:
    """The file prompts' answers, scripted by the test (see prompt_helpers)."""
    return ScriptedPrompts()


@pytest.fixture
def window(qtbot, prompts: ScriptedPrompts) -> MainWindow:
    """The main window, shown, asking its file questions of `prompts`. (Modules that need
    another window, e.g. one talking to the fake server, define their own `window`.)"""
    win = MainWindow()
    win.manuscript.prompts = prompts
    # Some tests close it: kept alive for qtbot's own close at the end.
    win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture
def served_window(
    qtbot, fake_ollama: FakeOllama, run_async: AsyncRunner, tmp_path: Path
) -> Callable[..., MainWindow]:
    """Makes the main window talking to the fake server, `story` typed into a new document
    and the cursor at its end; `smol` stands in for a cra-v1 model (a profile rule, as a
    writer would add one). Its story is never saved: asked about unsaved changes, the window
    lets them go, so that qtbot's close at the end really closes it (recovery journal and
    tasks ended). A test that scripts the question sets its own prompts."""

    def make(story: str, *, settings: AppSettings | None = None) -> MainWindow:
        profiles = tmp_path / "profiles.json"
        profiles.write_text(json.dumps({"models": [{"pattern": "smol:*", "profile": "cra"}]}))
        backend = OllamaBackend(ollama.AsyncClient(host=fake_ollama.url))
        win = MainWindow(backend, settings=settings, profiles=load_profiles(profiles))
        run_async.at_exit(win.shutdown)
        qtbot.addWidget(win)
        win.model_box.setCurrentText("smol")
        win.editor.setPlainText(story)
        win.editor.moveCursor(QTextCursor.MoveOperation.End)
        win.manuscript.prompts.unsaved_changes = lambda _title: UnsavedChoice.DISCARD
        win.show()
        return win

    return make
