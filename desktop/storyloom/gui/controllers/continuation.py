"""Runs one continuation at a time on the qasync loop and reports it through Qt signals.

The controller owns the asyncio task (so Stop can cancel it, which closes the HTTP stream) and
batches deltas: a fast model can send hundreds of tokens a second, and repainting the editor
for each would flood the event loop. Deltas are flushed at most every FLUSH_INTERVAL_MS, and
always before a phase change, so the text shown is never behind the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal

from storyloom.core import session
from storyloom.core.backend import (
    AnswerHeld,
    BackendEvent,
    ContextPrepared,
    ContinuationRequest,
    Failed,
    FailureKind,
    Finished,
    OllamaBackend,
)
from storyloom.core.session import Continuation, Phase, Stopped
from storyloom.gui.controllers.one_task import OneTask
from storyloom.prompting import AnswerDelta, ReasoningDelta

log = logging.getLogger(__name__)

Settle = Callable[[ContinuationRequest], Awaitable[ContinuationRequest]]

# Half a 60 Hz frame: with the repaint that follows, text is on screen within ~16 ms of
# arriving (tests/bench P1), while 2,000 tokens/s still cost only ~130 repaints.
FLUSH_INTERVAL_MS = 8


class ContinuationController(QObject):
    reasoningDelta = Signal(str)
    answerDelta = Signal(str)
    phaseChanged = Signal(object)  # Phase
    contextPrepared = Signal(object)  # ContextPrepared
    finished = Signal(object)  # GenerationStats
    failed = Signal(object)  # Failed

    def __init__(
        self,
        backend: OllamaBackend,
        parent: QObject | None = None,
        settle: Settle | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        # Completes a request with what only the server knows (e.g. the model's trained
        # context for num_ctx) inside the task, so Stop also stops that wait.
        self.settle = settle
        self.state: Continuation = Continuation()
        self.request: ContinuationRequest | None = None
        self._task = OneTask()
        self._reasoning_buffer: list[str] = []
        self._answer_buffer: list[str] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush)

    @property
    def phase(self) -> Phase:
        return self.state.phase

    @property
    def is_running(self) -> bool:
        return self._task.running

    def start(self, request: ContinuationRequest) -> None:
        """Start a continuation, cancelling one still running."""
        self._cancel_task()
        self.request = request
        self.state = session.start()
        self.phaseChanged.emit(self.state.phase)
        self._task.start(self._run(request))

    def stop(self) -> None:
        """Stop streaming; what arrived stays (the state becomes "stopped"), including the
        words the backend was still holding back to decide them."""
        if self.is_running:
            self._cancel_task()
            if self.state.held:
                self._apply(AnswerDelta(self.state.held))
            self._apply(Stopped())

    def cancel(self) -> None:
        """Stop streaming because the pending text is gone (the story was replaced, or the
        writer took the continuation over): there is nowhere to put more of it, so what was not
        shown yet is dropped, the words held back included. The state becomes "stopped", with
        the answer as far as it was shown."""
        if not self.phase.is_active:
            return
        self._task.cancel()
        unshown = "".join(self._answer_buffer)
        self._answer_buffer = []
        answer = self.state.answer[: len(self.state.answer) - len(unshown)]
        self.state = replace(self.state, answer=answer, held="")
        self._apply(Stopped())

    async def wait(self) -> None:
        """Wait until the current task has ended (tests and shutdown)."""
        await self._task.wait()

    async def _run(self, request: ContinuationRequest) -> None:
        try:
            if self.settle is not None:
                request = self.request = await self.settle(request)
            async with contextlib.aclosing(self.backend.continue_story(request)) as events:
                async for event in events:
                    self._apply(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail this continuation, not the app
            log.exception("continuation crashed")
            self._apply(Failed(FailureKind.SERVER_ERROR, f"Unexpected error: {exc}"))

    def _apply(self, event: BackendEvent | Stopped) -> None:
        match event:
            case ReasoningDelta(text=text):
                self._reasoning_buffer.append(text)
            case AnswerDelta(text=text):
                self._answer_buffer.append(text)
            case ContextPrepared():
                self.contextPrepared.emit(event)
        before = self.state.phase
        self.state = session.apply(self.state, event)
        # Deltas (and what is held back) are batched; anything else is shown at once.
        if (
            isinstance(event, ReasoningDelta | AnswerDelta | AnswerHeld)
            and self.state.phase is before
        ):
            if not self._flush_timer.isActive():
                self._flush_timer.start()
            return
        self.flush()
        if self.state.phase is not before:
            self.phaseChanged.emit(self.state.phase)
        if isinstance(event, Finished):
            self.finished.emit(event.stats)
        elif isinstance(event, Failed):
            self.failed.emit(event)

    def flush(self) -> None:
        self._flush_timer.stop()
        if self._reasoning_buffer:
            text, self._reasoning_buffer = "".join(self._reasoning_buffer), []
            self.reasoningDelta.emit(text)
        if self._answer_buffer:
            text, self._answer_buffer = "".join(self._answer_buffer), []
            self.answerDelta.emit(text)

    def _cancel_task(self) -> None:
        self._task.cancel()
        self.flush()
