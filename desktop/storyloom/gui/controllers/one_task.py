"""One asyncio task at a time, as a controller owns it: starting another cancels the one
running, and cancelling is what closes its HTTP stream (the only way to stop Ollama)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class OneTask:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self.cancel()
        self._task = asyncio.get_running_loop().create_task(work)

    def cancel(self) -> bool:
        """Cancel the running task; False if none was running."""
        if not self.running:
            return False
        assert self._task is not None
        self._task.cancel()
        return True

    async def wait(self) -> None:
        """Wait until the last task has ended (tests and shutdown)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
