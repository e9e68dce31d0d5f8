"""Owns the model-management tasks (list, pull, delete, preload) and reports them as signals.

The installed list is cached here so the window can answer "is this model installed?" and
"what is its trained context?" without a round trip. Pulls run one task per model name;
cancelling a pull cancels its task, which closes the stream and stops Ollama's download.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from storyloom.core.models import ModelError, ModelInfo, ModelManager, model_key

log = logging.getLogger(__name__)


class ModelController(QObject):
    modelsChanged = Signal(list)  # list[ModelInfo], after every successful listing
    listFailed = Signal(str)
    pullStarted = Signal(str)
    pullProgress = Signal(str, object)  # name, PullProgress
    pullFinished = Signal(str)
    pullFailed = Signal(str, str)  # name, message
    pullCancelled = Signal(str)
    deleted = Signal(str)
    preloaded = Signal(str)
    actionFailed = Signal(str)  # delete or preload went wrong

    def __init__(self, manager: Callable[[], ModelManager], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._manager = manager  # the window may swap the client when the host changes
        self.models: list[ModelInfo] | None = None  # None: not listed yet
        self._details: dict[str, ModelInfo] = {}  # model_key -> info, listed or shown
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what is known ------------------------------------------------------------------------

    def installed(self, name: str) -> ModelInfo | None:
        """The installed model called `name`, from the last listing."""
        key = model_key(name)
        return next((m for m in self.models or () if m.key == key), None)

    def cached(self, name: str) -> ModelInfo | None:
        return self._details.get(model_key(name))

    async def info(self, name: str) -> ModelInfo | None:
        """`name`'s details, asking Ollama only if they are not known; None if unavailable."""
        if (known := self.cached(name)) is not None:
            return known
        try:
            info = await self._manager().info(name)
        except ModelError as exc:
            log.info("no details for %s: %s", name, exc)
            return None
        if info is not None:
            self._details[info.key] = info
        return info

    def is_pulling(self, name: str) -> bool:
        return model_key(name) in self._pulls

    # -- actions ------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._spawn(self._refresh())

    def pull(self, name: str) -> None:
        """Start pulling `name` (nothing happens if it is already being pulled)."""
        name = name.strip()
        key = model_key(name)
        if not name or key in self._pulls:
            return
        self._pulls[key] = self._spawn(self._pull(name, key))
        self.pullStarted.emit(name)

    def cancel_pull(self, name: str) -> None:
        """Stop downloading `name`; Ollama keeps what it has and a new pull resumes it."""
        task = self._pulls.pop(model_key(name), None)
        if task is not None:
            task.cancel()
            # Reported here rather than by the task: it may end after the window is gone.
            self.pullCancelled.emit(name)

    def delete(self, name: str) -> None:
        self._spawn(self._delete(name))

    def preload(self, name: str, num_ctx: int, keep_alive: str | int | None) -> None:
        self._spawn(self._preload(name, num_ctx, keep_alive))

    def forget(self) -> None:
        """Drop what is known (the host changed: it is another server's list)."""
        self.models = None
        self._details.clear()

    def stop(self) -> None:
        """Cancel every task, silently (shutdown or a new host)."""
        self._pulls.clear()
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        """Until every task has ended (tests and shutdown)."""
        while self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- tasks --------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        try:
            models = await self._manager().list_models()
        except ModelError as exc:
            self.listFailed.emit(str(exc))
            return
        self.models = models
        self._details = {m.key: m for m in models}
        self.modelsChanged.emit(models)

    async def _pull(self, name: str, key: str) -> None:
        try:
            async with contextlib.aclosing(self._manager().pull(name)) as progress:
                async for step in progress:
                    self.pullProgress.emit(name, step)
        except ModelError as exc:
            self._pulls.pop(key, None)  # so that the signal's receivers see it ended
            self.pullFailed.emit(name, str(exc))
            return
        finally:
            self._pulls.pop(key, None)
        self._details.pop(key, None)  # a re-pull may have changed it
        await self._refresh()
        self.pullFinished.emit(name)

    async def _delete(self, name: str) -> None:
        try:
            await self._manager().delete(name)
        except ModelError as exc:
            self.actionFailed.emit(f"“{name}” was not deleted. {exc}")
            return
        await self._refresh()
        self.deleted.emit(name)

    async def _preload(self, name: str, num_ctx: int, keep_alive: str | int | None) -> None:
        try:
            await self._manager().preload(name, num_ctx, keep_alive)
        except ModelError as exc:
            self.actionFailed.emit(f"“{name}” could not be loaded. {exc}")
            return
        self.preloaded.emit(name)
        await self._refresh()  # show it as loaded

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A bug must show in the log, not vanish with the task.
            log.error("model task crashed", exc_info=exc)
