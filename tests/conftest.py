"""Fixtures for every test. No Qt here: Qt fixtures live in tests/qt/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# No test reaches the Hugging Face Hub, not even by accident: bitsandbytes, for one, asks it for
# CPU kernels when imported. Set before anything imports huggingface_hub (it reads this once).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The `fake_ollama` fixture: a local server that speaks Ollama's HTTP API byte for byte.
pytest_plugins = ["fake_ollama.fixtures"]


def _shared_dir() -> Path:
    # CI and every checkout have the read-only shared material beside the repository.
    return Path(os.environ.get("STORYLOOM_SHARED", REPO_ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _shared_dir()
    if not (path / "README.md").is_file():
        pytest.fail(f"shared material not found at {path}; set STORYLOOM_SHARED to its folder")
    return path


@pytest.fixture(scope="session")
def gutenberg_dir(shared_dir: Path) -> Path:
    return shared_dir / "corpus" / "gutenberg"


@pytest.fixture(scope="session")
def transcripts_dir(shared_dir: Path) -> Path:
    return shared_dir / "ollama-transcripts"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point every per-user location at a fresh temporary folder (novelWriter style).

    No test may read or write the developer's real settings, recovery journal or caches, and
    none may reach a real Ollama server by accident.
    """
    home = tmp_path_factory.mktemp("home")
    for var, sub in (
        ("HOME", ""),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    # An unreachable loopback port: a test that forgets to start the fake server fails fast.
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    return home
