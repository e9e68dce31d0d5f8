"""The real app, driven like a writer would, until something kills it (tests/qt/test_crash.py).

    python tests/qt/crash_app.py MANUSCRIPT LOG SEED

Runs `storyloom.gui.app.run` on MANUSCRIPT (offscreen, against OLLAMA_HOST), and once the
manuscript is open types into the editor with QTest, starts continuations (Ctrl+Enter) and
accepts, rejects or types over them, and saves now and then, at random. Every state of the
story is appended to LOG as it happens (see `Writer`), one JSON line with its time, computed
independently of the app's own snapshot code: {"t", "text" (the writer's), "pending"}; a save adds
{"t", "save": text} before it starts. Lines go out with one os.write each, so a SIGKILL loses
none that were written.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.gui.app import create_application, run
from storyloom.gui.main_window import MainWindow

PROSE = (
    "the lamp flickered and Maren climbed past the rusted rail toward a door that "
    "nobody had opened since the storm took the keeper and his boat"
)
WORDS = PROSE.split()


class Writer:
    """Types, continues, accepts, saves; logs the story's state after every change.

    A state is logged once a change is complete: after each key, after each streamed piece
    of the continuation has been put in the editor, and when a continuation is accepted or
    rejected. (The document's own change signal fires halfway through the editor's edits.)
    """

    def __init__(self, window: MainWindow, log_path: Path, rng: random.Random) -> None:
        self.window = window
        self.editor = window.editor
        self.rng = rng
        self.fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.last: tuple[str, str] | None = None
        # After the editor's slot, so the log sees the streamed text in place.
        window.controller.answerDelta.connect(lambda _: self.changed())
        # Before the manuscript's slot, which journals an accepted continuation at once: the
        # log must never be behind the journal, or a kill between the two would look like a
        # recovered state the story never was in.
        journal_now = window.manuscript._pending_changed
        window.editor.pendingChanged.disconnect(journal_now)
        window.editor.pendingChanged.connect(lambda _: self.changed())
        window.editor.pendingChanged.connect(journal_now)

    def write(self, record: dict) -> None:
        os.write(self.fd, (json.dumps({"t": time.time(), **record}) + "\n").encode())

    def state(self) -> tuple[str, str]:
        full = self.editor.toPlainText()  # typed text only: no no-break spaces to lose
        if not self.editor.has_pending():
            return full, ""
        start, end = self.editor.pending_range()  # ASCII story: positions are characters
        return full[:start] + full[end:], full[start:end]

    def changed(self) -> None:
        state = self.state()
        if state != self.last:
            self.last = state
            self.write({"text": state[0], "pending": state[1]})

    def keys(self, text: str) -> None:
        for char in text:
            QTest.keyClicks(self.editor, char)
            self.changed()

    def key(self, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(self.editor, key, modifier)
        self.changed()

    async def first_prose(self) -> None:
        """The writer reads the plan while the model thinks, until its prose starts."""
        deadline = time.monotonic() + 10
        while self.window.controller.phase.is_active and time.monotonic() < deadline:
            if self.editor.pending_text():
                return
            await asyncio.sleep(0.02)

    async def drive(self) -> None:
        rng = self.rng
        while True:
            roll = rng.random()
            if roll < 0.6:  # a stretch of words, at typing speed
                for _ in range(rng.randint(2, 12)):
                    self.keys(rng.choice(WORDS) + " ")
                    await asyncio.sleep(rng.uniform(0.02, 0.15))
                if rng.random() < 0.15:
                    self.key(Qt.Key.Key_Return)
            elif roll < 0.85 and not self.editor.has_pending():  # ask for a continuation
                self.key(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
                await self.first_prose()
                await asyncio.sleep(rng.uniform(0.1, 3.0))  # it streams meanwhile
                decision = rng.random()
                if decision < 0.4:
                    self.key(Qt.Key.Key_Tab)  # accept
                elif decision < 0.6:
                    self.keys(" and then")  # typing on accepts
                elif decision < 0.8:
                    self.key(Qt.Key.Key_Escape)  # stop (or reject)
                    self.key(Qt.Key.Key_Escape)
                # else: leave it pending (or streaming) for a while
            elif roll < 0.91:
                self.write({"save": self.state()[0]})
                self.window.file_actions.save.trigger()
            else:
                await asyncio.sleep(rng.uniform(0.2, 1.0))  # the writer pauses


def main(argv: list[str]) -> int:
    manuscript, log_path, seed = Path(argv[1]), Path(argv[2]), int(argv[3])
    app = create_application([argv[0]])
    rng = random.Random(seed)
    tasks: set[asyncio.Task] = set()

    def start(window: MainWindow) -> None:
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        writer = Writer(window, log_path, rng)
        writer.changed()
        writer.write({"ready": True})
        tasks.add(asyncio.get_running_loop().create_task(writer.drive()))

    def start_when_open() -> None:
        for widget in app.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.manuscript.path == manuscript:
                start(widget)
                return
        QTimer.singleShot(20, start_when_open)

    QTimer.singleShot(20, start_when_open)
    return run([argv[0]], manuscript)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
