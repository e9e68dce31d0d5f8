"""The connection banner: Ollama not running (start it, retry), not Ollama, too old."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from storyloom.core import paths
from storyloom.core.connection import SERVE_LOG, install_url, start_command
from storyloom.core.session import Phase
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings

from fake_ollama import running_fake_ollama
from fake_ollama.stand_ins import not_ollama_server
from loop_helpers import until

posix_only = pytest.mark.skipif(os.name == "nt", reason="the fake ollama is a POSIX script")

# Stands in for `ollama serve`: answers what the start-up asks, on OLLAMA_HOST's port.
TINY_OLLAMA = """\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {"/api/version": {"version": "0.32.15"}, "/api/tags": {"models": []},
           "/api/ps": {"models": []}}

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(ANSWERS.get(self.path, {"error": "not here"})).encode()
        self.send_response(200 if self.path in ANSWERS else 404)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

host, _, port = os.environ["OLLAMA_HOST"].rpartition(":")
server = ThreadingHTTPServer((host, int(port)), Handler)
print("Listening on", os.environ["OLLAMA_HOST"], flush=True)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def no_ollama_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def open_window(qtbot, run_async, host: str) -> MainWindow:
    settings = open_settings()
    settings.set_host(host)
    window = MainWindow(settings=settings)
    run_async.at_exit(window.shutdown)
    qtbot.addWidget(window)
    window.show()
    return window


def test_not_running_says_how_to_start_it_and_retry_finds_it(
    qtbot, run_async, no_ollama_on_path: Path
) -> None:
    host = f"127.0.0.1:{free_port()}"
    window = open_window(qtbot, run_async, f"http://{host}")
    panel = window.connection_panel
    server: subprocess.Popen[str] | None = None

    async def scenario() -> None:
        nonlocal server
        window.start_up()
        await until(panel.isVisible, what="the banner")
        assert panel.message.text().startswith(f"Ollama is not running at http://{host}.")
        assert panel.command.text() == start_command()
        assert install_url() in panel.install_link.text()
        assert not panel.start_button.isVisible()  # no `ollama` on PATH: nothing to start
        # The writer starts Ollama in a terminal, then clicks Retry: no restart needed.
        server = subprocess.Popen(
            [sys.executable, "-c", TINY_OLLAMA],
            env=dict(os.environ, OLLAMA_HOST=host),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and "Listening" in server.stdout.readline()
        qtbot.mouseClick(panel.retry_button, Qt.MouseButton.LeftButton)
        await until(lambda: not panel.isVisible(), what="the banner to go")
        await until(window.model_offer.isVisible, what="the models to be listed")

    try:
        run_async(scenario)
    finally:
        if server is not None:
            server.kill()
            server.communicate(timeout=10)
    assert window.connection.status is not None and window.connection.status.version == "0.32.15"


@posix_only
def test_start_ollama_spawns_ollama_serve_and_waits_for_it(
    qtbot, run_async, no_ollama_on_path: Path
) -> None:
    program = no_ollama_on_path / "ollama"
    program.write_text(f"#!{sys.executable}\n{TINY_OLLAMA}", encoding="utf-8")
    program.chmod(0o755)
    host = f"127.0.0.1:{free_port()}"
    window = open_window(qtbot, run_async, f"http://{host}")
    panel = window.connection_panel

    async def scenario() -> None:
        window.start_up()
        await until(panel.start_button.isVisible, what="the Start button")
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert panel.message.text() == "Starting Ollama…"
        await until(lambda: not panel.isVisible(), what="Ollama to answer")

    try:
        run_async(scenario)
    finally:
        spawned = window.connection.spawned
        assert spawned is not None
        spawned.kill()
        spawned.wait(timeout=10)
    assert spawned.args == [str(program), "serve"]
    log = paths.data_dir() / SERVE_LOG
    assert log.read_text() == f"Listening on {host}\n"


@pytest.fixture
def impostor() -> Iterator[str]:
    with not_ollama_server() as url:
        yield url


def test_another_program_on_the_port_is_named_as_such(qtbot, run_async, impostor: str) -> None:
    window = open_window(qtbot, run_async, impostor)
    panel = window.connection_panel

    async def scenario() -> None:
        window.start_up()
        await until(panel.isVisible)

    run_async(scenario)
    assert "it is not Ollama" in panel.message.text()
    assert not panel.start_button.isVisible() and not panel.command.isVisible()
    assert panel.property("level") == "error"


def test_an_old_ollama_is_flagged_but_still_writes(qtbot, run_async) -> None:
    with running_fake_ollama(version="0.11.4") as server:
        window = open_window(qtbot, run_async, server.url)
        window.model_box.setCurrentText("smol")
        panel = window.connection_panel

        async def scenario() -> None:
            window.start_up()
            await until(panel.isVisible)
            window.continue_story()
            await until(lambda: window.controller.phase is Phase.DONE)

        run_async(scenario)
    assert "older than 0.12.6" in panel.message.text()
    assert "Update Ollama" in panel.install_link.text()
    assert panel.property("level") == "warning"
    assert window.editor.pending_text().strip()


def test_a_continuation_that_finds_no_server_brings_up_the_banner(qtbot, run_async) -> None:
    window = open_window(qtbot, run_async, f"http://127.0.0.1:{free_port()}")

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.FAILED)
        await until(window.connection_panel.isVisible, what="the check after the failure")

    run_async(scenario)
    assert "not running" in window.reasoning.notice.text()
