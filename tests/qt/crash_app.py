"""The real app, driven like a writer would, until something kills it (tests/qt/test_crash.py).

    python tests/qt/crash_app.py MANUSCRIPT LOG SEED

Runs `storyloom.gui.app.run` on MANUSCRIPT (offscreen, against OLLAMA_HOST), and once the
manuscript is open types into the editor with QTest, starts continuations (Ctrl+Enter) and
accepts, rejects or types over them, and saves now and then, at random. Every state of the
story is appended to LOG as it happens, one JSON line with its time, computed independently
of the app's own snapshot code: {"t", "text" (the writer's), "pending"}; a save adds
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


class Log:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.last: tuple[str, str] | None = None

    def write(self, record: dict) -> None:
        os.write(self.fd, (json.dumps({"t": time.time(), **record}) + "\n").encode())

    def state(self, window: MainWindow) -> tuple[str, str]:
        editor = window.editor
        full = editor.toPlainText()  # typed text only: no no-break spaces to lose
        if not editor.has_pending():
            return full, ""
        start, end = editor.pending_range()  # ASCII story: positions are characters
        return full[:start] + full[end:], full[start:end]

    def changed(self, window: MainWindow) -> None:
        state = self.state(window)
        if state != self.last:
            self.last = state
            self.write({"text": state[0], "pending": state[1]})


async def drive(window: MainWindow, rng: random.Random, log: Log) -> None:
    editor = window.editor
    while True:
        roll = rng.random()
        if roll < 0.75:  # a stretch of words, at typing speed
            for _ in range(rng.randint(2, 12)):
                QTest.keyClicks(editor, rng.choice(WORDS) + " ", Qt.KeyboardModifier.NoModifier)
                await asyncio.sleep(rng.uniform(0.02, 0.15))
            if rng.random() < 0.15:
                QTest.keyClick(editor, Qt.Key.Key_Return)
        elif roll < 0.87 and not editor.has_pending():  # ask for a continuation
            QTest.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            await asyncio.sleep(rng.uniform(0.1, 2.0))  # it streams meanwhile
            decision = rng.random()
            if decision < 0.4:
                QTest.keyClick(editor, Qt.Key.Key_Tab)  # accept
            elif decision < 0.6:
                QTest.keyClicks(editor, " and then")  # typing on accepts
            elif decision < 0.8:
                QTest.keyClick(editor, Qt.Key.Key_Escape)  # stop (or reject)
                QTest.keyClick(editor, Qt.Key.Key_Escape)
            # else: leave it pending (or streaming) for a while
        elif roll < 0.91:
            log.write({"save": log.state(window)[0]})
            window.file_actions.save.trigger()
        else:
            await asyncio.sleep(rng.uniform(0.2, 1.0))  # the writer pauses


def main(argv: list[str]) -> int:
    manuscript, log_path, seed = Path(argv[1]), Path(argv[2]), int(argv[3])
    app = create_application([argv[0]])
    log = Log(log_path)
    rng = random.Random(seed)
    tasks: set[asyncio.Task] = set()

    def start(window: MainWindow) -> None:
        window.editor.document().contentsChanged.connect(lambda: log.changed(window))
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        log.changed(window)
        log.write({"ready": True})
        tasks.add(asyncio.get_running_loop().create_task(drive(window, rng, log)))

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
