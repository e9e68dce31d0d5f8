"""Application bootstrap: one QApplication, one qasync event loop, the main window."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from storyloom import APP_ID, __version__
from storyloom.gui.event_loop import StoryloomEventLoop
from storyloom.gui.gc_guard import MainThreadGarbageCollector
from storyloom.gui.main_window import MainWindow


def create_application(argv: Sequence[str]) -> QApplication:
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationName("Storyloom")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Storyloom")
    app.setDesktopFileName(APP_ID)
    return app


async def _run_window(app: QApplication, manuscript: Path | None) -> None:
    """Show the window; when it closes, stop any stream and close the client, then return.

    The window's close (not Qt's quit) ends the app, so the cleanup still runs on a live
    event loop: cancelling the stream closes its connection and tells Ollama to stop.
    """
    app.setQuitOnLastWindowClosed(False)
    done = asyncio.Event()
    app.aboutToQuit.connect(done.set)  # a quit from elsewhere (e.g. the session ending)
    window = MainWindow()  # one client for the app's lifetime: the configured host or OLLAMA_HOST
    window.closed.connect(done.set)
    window.show()
    collector = MainThreadGarbageCollector(app)
    collector.start()  # after start-up, so what start-up built is frozen out of collections
    window.start_up()  # check Ollama, list the models, offer what is missing and recovery
    if manuscript is not None:  # from a timer: its dialogs must not run inside this task
        QTimer.singleShot(0, lambda: window.open_file(manuscript))
    await done.wait()
    if app.closingDown():  # Qt's loop is gone: cancel what runs, the OS closes the sockets
        window.stop_tasks()
    else:
        await window.shutdown()
    collector.stop()


def run(argv: Sequence[str], manuscript: Path | None = None) -> int:
    """Run the app (opening `manuscript`, if given) until its window is closed."""
    app = create_application(argv)
    # asyncio.Runner (not asyncio.run) because loop_factory needs Python 3.12 there.
    with asyncio.Runner(loop_factory=lambda: StoryloomEventLoop(app)) as runner:
        runner.run(_run_window(app, manuscript))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv))
