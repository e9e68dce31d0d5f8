"""Is Ollama there? What to tell the writer when it is not, and starting it for them.

`check_server()` asks `/api/version` and sorts the answer into one `ServerState`. The rest of
this module is what the connection panel offers when the server is not running: the command
for this OS, the install page, and `spawn_ollama_serve()` for the "Start Ollama" button.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from storyloom.core import paths

# `truncate: false` (refuse an over-long prompt instead of silently dropping the start of the
# story) arrived in Ollama 0.12.6; older servers ignore it, and then only the after-the-fact
# prompt_eval_count check notices that text was lost.
MIN_VERSION = (0, 12, 6)
CHECK_TIMEOUT = 5.0  # a local server answers in milliseconds; anything slower is not usable
INSTALL_URL = "https://ollama.com/download"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
SERVE_LOG = "ollama-serve.log"

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class ServerState(enum.Enum):
    RUNNING = "running"
    TOO_OLD = "too_old"  # usable, but without the guarantees Storyloom relies on
    NOT_OLLAMA = "not_ollama"  # something else answers on that port
    UNREACHABLE = "unreachable"

    @property
    def usable(self) -> bool:
        return self in (ServerState.RUNNING, ServerState.TOO_OLD)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    state: ServerState
    host: str
    version: str | None = None
    detail: str = ""  # the underlying error, for the tooltip and the log

    @property
    def message(self) -> str:
        """One or two sentences for the connection panel."""
        minimum = ".".join(map(str, MIN_VERSION))
        match self.state:
            case ServerState.RUNNING:
                return f"Ollama {self.version} is running at {self.host}."
            case ServerState.TOO_OLD:
                return (
                    f"Ollama {self.version} at {self.host} is older than {minimum}: it may "
                    "silently cut the start of a long story. Please update Ollama."
                )
            case ServerState.NOT_OLLAMA:
                return (
                    f"Something answers at {self.host}, but it is not Ollama. Check the host "
                    "in Settings (or OLLAMA_HOST), or free that port for Ollama."
                )
        return f"Ollama is not running at {self.host}."


async def check_server(client: httpx.AsyncClient) -> ServerStatus:
    """Ask the server at `client.base_url` who it is; never raises for a network problem."""
    host = str(client.base_url).rstrip("/")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            response = await client.get("/api/version")
    except TimeoutError:
        return ServerStatus(ServerState.NOT_OLLAMA, host, detail="no answer within 5 s")
    except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as exc:
        return ServerStatus(ServerState.UNREACHABLE, host, detail=str(exc))
    except httpx.HTTPError as exc:
        return ServerStatus(ServerState.NOT_OLLAMA, host, detail=repr(exc))
    try:
        version = response.json()["version"] if response.status_code == 200 else None
    except (ValueError, KeyError, TypeError):
        version = None
    if not isinstance(version, str):
        detail = f"GET /api/version answered {response.status_code}: {response.text[:200]}"
        return ServerStatus(ServerState.NOT_OLLAMA, host, detail=detail)
    state = ServerState.TOO_OLD if is_too_old(version) else ServerState.RUNNING
    return ServerStatus(state, host, version)


def is_too_old(version: str) -> bool:
    """Whether `version` predates MIN_VERSION. Development builds report 0.0.0: not too old."""
    match = _VERSION.match(version)
    if match is None:
        return False  # an unusual version string is no reason to refuse a working server
    parsed = tuple(int(part) for part in match.groups())
    return parsed != (0, 0, 0) and parsed < MIN_VERSION


def is_local(host: str) -> bool:
    """Whether `host` is this machine, the only place a "Start Ollama" button can help."""
    hostname = urlsplit(host if "://" in host else f"http://{host}").hostname or ""
    return hostname in LOCAL_HOSTS


def start_command(platform: str = sys.platform) -> str:
    """The command that starts Ollama by hand on `platform`."""
    if platform == "darwin":
        return "open -a Ollama"  # the menu-bar app; it runs the server
    if platform.startswith("linux"):
        return "ollama serve"  # or `sudo systemctl start ollama` for the service install
    return "ollama serve"  # Windows: in PowerShell, or start Ollama from the Start menu


def install_url(platform: str = sys.platform) -> str:
    if platform == "darwin":
        return f"{INSTALL_URL}/mac"
    if platform.startswith("linux"):
        return f"{INSTALL_URL}/linux"
    if platform.startswith("win"):
        return f"{INSTALL_URL}/windows"
    return INSTALL_URL


def find_ollama() -> str | None:
    """The `ollama` executable on PATH, if there is one."""
    return shutil.which("ollama")


def serve_address(host: str) -> str:
    """`host` as `ollama serve` reads OLLAMA_HOST: `127.0.0.1:11434`, no scheme."""
    parts = urlsplit(host if "://" in host else f"http://{host}")
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 11434}"


def spawn_ollama_serve(
    executable: str, host: str, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `ollama serve` for `host`, detached from Storyloom; its output goes to a log.

    Detached, because the server should outlive the window (as when the Ollama app starts it),
    and a terminal's Ctrl+C or closing Storyloom must not take it down mid-download. No shell:
    the executable path is passed as is, whatever characters it contains.
    """
    log_path = log_path or paths.data_dir() / SERVE_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OLLAMA_HOST=serve_address(host))
    if os.name == "nt":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        detach: dict[str, object] = {"creationflags": flags}
    else:
        detach = {"start_new_session": True}
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(  # type: ignore[call-overload]
            [executable, "serve"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
            **detach,
        )
