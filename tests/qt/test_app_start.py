"""The app starts offscreen: window, editor, toolbar, status bar; and quits cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from storyloom import APP_ID
from storyloom.gui.app import create_application, run
from storyloom.gui.main_window import MainWindow
from storyloom.gui.widgets.story_editor import StoryEditor


def test_main_window_has_the_editor_in_the_centre(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert isinstance(window.centralWidget(), StoryEditor)
    assert window.reasoning_dock.isVisible()
    qtbot.keyClicks(window.editor, "It was a dark night.")
    assert window.editor.toPlainText() == "It was a dark night."
    assert window.statusBar().isVisible()


def test_application_identity(qapp: QApplication) -> None:
    app = create_application([])
    assert app is qapp
    assert app.desktopFileName() == APP_ID
    assert app.applicationName() == "Storyloom"


def test_run_shows_the_window_and_returns_when_it_is_closed(qapp: QApplication) -> None:
    shown: list[str] = []

    def close_when_shown() -> None:
        for window in qapp.topLevelWidgets():
            if isinstance(window, MainWindow) and window.isVisible():
                shown.append(window.windowTitle())
                window.close()

    QTimer.singleShot(50, close_when_shown)
    assert run([]) == 0
    assert shown == ["Untitled[*] — Storyloom"]  # [*]: where Qt shows the unsaved mark


def test_version_flag_needs_no_display() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storyloom", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("storyloom ")


def test_the_manuscript_argument_is_opened(qapp: QApplication, tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text("Once.")
    opened: list[object] = []

    def close_once_opened() -> None:
        for window in qapp.topLevelWidgets():
            if isinstance(window, MainWindow) and window.manuscript.path is not None:
                opened.append(window.manuscript.path)
                window.close()
                return
        QTimer.singleShot(20, close_once_opened)

    QTimer.singleShot(20, close_once_opened)
    assert run([], story) == 0
    assert opened == [story]


def test_qt_options_and_their_values_are_not_the_manuscript(monkeypatch) -> None:
    import storyloom.gui.app
    from storyloom.__main__ import main

    calls = []
    monkeypatch.setattr(storyloom.gui.app, "run", lambda *args: calls.append(args) or 0)
    assert main(["storyloom", "-platform", "offscreen", "story.md", "-reverse"]) == 0
    assert main(["storyloom", "-style", "fusion"]) == 0
    assert calls == [
        (["storyloom", "-platform", "offscreen", "-reverse"], Path("story.md")),
        (["storyloom", "-style", "fusion"], None),
    ]
