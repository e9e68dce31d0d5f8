"""Where Storyloom keeps the writer's files (platformdirs, so each OS gets its usual place).

Looked up on every call rather than once at import: the tests point XDG_CONFIG_HOME and friends
at a fresh folder per test, and nothing may ever reach the developer's real settings.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "Storyloom"


def config_dir() -> Path:
    """Settings (settings.ini) and the writer's own model profiles (profiles.json)."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    """Files the app writes for itself, e.g. the log of an `ollama serve` it started."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


SIDECAR_SUFFIX = ".storyloom"


def sidecar_dir(manuscript: Path) -> Path:
    """The folder beside a manuscript that holds what Storyloom keeps for it (takes, backups).

    `story.md` -> `story.md.storyloom/`. Never inside the prose file: the manuscript stays plain
    text that any editor can open. Not created here; writers of the folder create it.
    """
    return manuscript.with_name(manuscript.name + SIDECAR_SUFFIX)
