"""Is Ollama there: the check against the fake server and impostors, and `ollama serve`."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storyloom.core import connection
from storyloom.core.connection import (
    ServerState,
    check_server,
    install_url,
    is_local,
    is_too_old,
    serve_address,
    spawn_ollama_serve,
    start_command,
)

from fake_ollama import FakeOllama, running_fake_ollama
from fake_ollama.stand_ins import not_ollama_server

posix_only = pytest.mark.skipif(os.name == "nt", reason="the fake ollama is a POSIX script")


def check(url: str) -> connection.ServerStatus:
    async def ask() -> connection.ServerStatus:
        async with httpx.AsyncClient(base_url=url) as client:
            return await check_server(client)

    return asyncio.run(ask())


def test_a_running_server(fake_ollama: FakeOllama) -> None:
    status = check(fake_ollama.url)
    assert (status.state, status.version, status.host) == (
        ServerState.RUNNING,
        "0.32.15",
        fake_ollama.url,
    )
    assert status.message == f"Ollama 0.32.15 is running at {fake_ollama.url}."
    assert fake_ollama.requests_to("/api/version")


def test_a_server_older_than_truncate_false_is_usable_but_flagged() -> None:
    with running_fake_ollama(version="0.12.5") as server:
        status = check(server.url)
    assert status.state is ServerState.TOO_OLD
    assert status.state.usable
    assert "older than 0.12.6" in status.message


def test_nothing_listening() -> None:
    status = check("http://127.0.0.1:9")
    assert status.state is ServerState.UNREACHABLE
    assert not status.state.usable
    assert status.message == "Ollama is not running at http://127.0.0.1:9."


@pytest.fixture
def web_server() -> Iterator[str]:
    with not_ollama_server(status=404) as url:
        yield url


def test_another_web_server_on_the_port_is_not_ollama(web_server: str) -> None:
    status = check(web_server)
    assert status.state is ServerState.NOT_OLLAMA
    assert "it is not Ollama" in status.message
    assert "404" in status.detail


@pytest.mark.parametrize(
    ("version", "too_old"),
    [
        ("0.12.5", True),
        ("0.12.6", False),
        ("0.32.15", False),
        ("0.33.0-rc2", False),
        ("0.0.0", False),  # a development build
        ("0.9.10", True),
        ("1.0.0", False),
        ("weird", False),
    ],
)
def test_version_floor(version: str, too_old: bool) -> None:
    assert is_too_old(version) is too_old


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("http://127.0.0.1:11434", True),
        ("localhost:11434", True),
        ("http://[::1]:11434", True),
        ("0.0.0.0", True),
        ("http://gpu-box.lan:11434", False),
        ("10.0.0.5", False),
    ],
)
def test_only_a_local_host_can_be_started(host: str, local: bool) -> None:
    assert is_local(host) is local


def test_instructions_per_os() -> None:
    assert start_command("linux") == "ollama serve"
    assert start_command("darwin") == "open -a Ollama"
    assert start_command("win32") == "ollama serve"
    assert install_url("linux") == "https://ollama.com/download/linux"
    assert install_url("darwin") == "https://ollama.com/download/mac"
    assert install_url("win32") == "https://ollama.com/download/windows"


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("http://127.0.0.1:11434", "127.0.0.1:11434"),
        ("localhost", "localhost:11434"),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
    ],
)
def test_serve_address_is_what_ollama_serve_reads(host: str, address: str) -> None:
    assert serve_address(host) == address


def fake_ollama_program(folder: Path, body: str) -> Path:
    """An executable called `ollama` that runs `body` with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "ollama"
    program.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    program.chmod(0o755)
    return program


@posix_only
def test_serve_is_spawned_detached_without_a_shell_logging_to_a_file(tmp_path: Path) -> None:
    # A space and a quote in the path: a shell would split or choke on them.
    program = fake_ollama_program(
        tmp_path / "odd dir's bin",
        "import os, sys\n"
        "print('argv', sys.argv[1:])\n"
        "print('host', os.environ['OLLAMA_HOST'])\n"
        "print('own session', os.getsid(0) == os.getpid())\n",
    )
    log = tmp_path / "logs" / "ollama-serve.log"
    process = spawn_ollama_serve(str(program), "http://127.0.0.1:11500", log)
    assert process.wait(timeout=30) == 0
    assert process.args == [str(program), "serve"]
    assert log.read_text().splitlines() == [
        "argv ['serve']",
        "host 127.0.0.1:11500",
        "own session True",  # detached: Storyloom's terminal or exit does not stop it
    ]


@posix_only
def test_the_log_goes_to_the_data_folder_by_default(tmp_path: Path) -> None:
    program = fake_ollama_program(tmp_path / "bin", "print('listening')\n")
    process = spawn_ollama_serve(str(program), "127.0.0.1:11434")
    assert process.wait(timeout=30) == 0
    log = connection.paths.data_dir() / connection.SERVE_LOG
    assert str(log).startswith(os.environ["XDG_DATA_HOME"])  # the test's own folder
    assert log.read_text() == "listening\n"


def test_find_ollama_looks_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert connection.find_ollama() is None
    if os.name != "nt":
        program = fake_ollama_program(tmp_path, "")
        assert connection.find_ollama() == str(program)
