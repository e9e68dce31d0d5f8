"""Checks the Ollama server on start and on demand, and starts `ollama serve` when asked."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable

import httpx
from PySide6.QtCore import QObject, Signal

from storyloom.core import paths
from storyloom.core.connection import (
    SERVE_LOG,
    ServerState,
    ServerStatus,
    check_server,
    find_ollama,
    is_local,
    spawn_ollama_serve,
)
from storyloom.gui.controllers.one_task import OneTask

log = logging.getLogger(__name__)

# A cold `ollama serve` answers within a second or two; give a slow disk some more.
START_WAIT_SECONDS = 20.0
START_POLL_SECONDS = 0.25


class ConnectionController(QObject):
    statusChanged = Signal(object)  # ServerStatus
    startFailed = Signal(str)

    def __init__(
        self, http: Callable[[], httpx.AsyncClient], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._http = http  # the backend's client; the window may swap it when the host changes
        self.status: ServerStatus | None = None
        self.spawned: subprocess.Popen[bytes] | None = None
        self._task = OneTask()

    @property
    def host(self) -> str:
        return str(self._http().base_url).rstrip("/")

    def can_start_server(self) -> bool:
        """A local host and an `ollama` on PATH: the "Start Ollama" button can do its job."""
        return is_local(self.host) and find_ollama() is not None

    def check(self) -> None:
        """Check the server now (a check still running is replaced)."""
        self._task.start(self._check())

    def start_server(self) -> None:
        """Spawn `ollama serve` for the configured host and wait until it answers."""
        executable = find_ollama()
        if executable is None:
            self.startFailed.emit("No `ollama` program was found on this computer.")
            return
        try:
            self.spawned = spawn_ollama_serve(executable, self.host)
        except OSError as exc:
            self.startFailed.emit(f"Ollama could not be started: {exc}")
            return
        self._task.start(self._wait_until_running())

    async def wait(self) -> None:
        """Until the current check has ended (tests and shutdown)."""
        await self._task.wait()

    def stop(self) -> None:
        self._task.cancel()

    async def _check(self) -> None:
        self._publish(await check_server(self._http()))

    async def _wait_until_running(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_WAIT_SECONDS
        while True:
            status = await check_server(self._http())
            exited = self.spawned is not None and self.spawned.poll() is not None
            if status.state is not ServerState.UNREACHABLE or exited or loop.time() > deadline:
                break
            await asyncio.sleep(START_POLL_SECONDS)
        self._publish(status)
        if status.state is ServerState.UNREACHABLE:
            self.startFailed.emit(
                f"Ollama was started but does not answer. Its log: {paths.data_dir() / SERVE_LOG}"
            )

    def _publish(self, status: ServerStatus) -> None:
        if status.state is not ServerState.RUNNING:
            log.info("Ollama at %s: %s (%s)", status.host, status.state.value, status.detail)
        self.status = status
        self.statusChanged.emit(status)
