"""Asks the model for a few directions the story could take, one request at a time.

The controller owns the asyncio task: a new request or Stop cancels the one running, which
closes its HTTP stream so Ollama stops generating.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from storyloom.core.backend import ContinuationRequest, Failed, FailureKind, OllamaBackend
from storyloom.gui.controllers.continuation import Settle
from storyloom.gui.controllers.one_task import OneTask

log = logging.getLogger(__name__)

NO_DIRECTIONS = "The model suggested no directions this time. Ask again, or write your own."


class DirectionsController(QObject):
    suggested = Signal(list)  # list[str], never empty
    failed = Signal(str)  # a message for the writer
    busyChanged = Signal(bool)

    def __init__(
        self,
        backend: Callable[[], OllamaBackend],
        parent: QObject | None = None,
        settle: Settle | None = None,
    ) -> None:
        super().__init__(parent)
        self._backend = backend  # the window may swap the backend when the host changes
        # As for continuations: num_ctx from the model's trained context, so that asking for
        # directions never makes Ollama reload the model with another context size.
        self.settle = settle
        self._task = OneTask()

    @property
    def is_running(self) -> bool:
        return self._task.running

    def suggest(self, request: ContinuationRequest) -> None:
        """Ask for directions from the end of `request.story`, with its model and settings,
        cancelling a request still running."""
        self.stop()
        self.busyChanged.emit(True)
        self._task.start(self._run(request))

    def stop(self) -> None:
        if self._task.cancel():
            self.busyChanged.emit(False)

    async def wait(self) -> None:
        await self._task.wait()

    async def _run(self, request: ContinuationRequest) -> None:
        try:
            if self.settle is not None:
                request = await self.settle(request)
            result = await self._backend().suggest_directions(
                request.story, request.settings, request.profile
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail this request, not the app
            log.exception("suggesting directions crashed")
            result = Failed(FailureKind.SERVER_ERROR, f"Unexpected error: {exc}")
        self.busyChanged.emit(False)
        if isinstance(result, Failed):
            self.failed.emit(result.message)
        elif result:
            self.suggested.emit(result)
        else:
            self.failed.emit(NO_DIRECTIONS)
