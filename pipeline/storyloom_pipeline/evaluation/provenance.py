"""Where a report came from: the code's version and commit, the machine, the time."""

from __future__ import annotations

import datetime
import platform
import subprocess
from pathlib import Path
from typing import Any

from storyloom_pipeline import __version__

_SOURCE = Path(__file__).resolve().parent


def git_commit(folder: Path = _SOURCE) -> tuple[str | None, bool]:
    """The commit the pipeline's source tree is at, and whether it has uncommitted changes;
    (None, False) for an installed copy outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return head, bool(status.strip())


def provenance() -> dict[str, Any]:
    commit, dirty = git_commit()
    return {
        "storyloom_version": __version__,
        "commit": commit,
        "uncommitted_changes": dirty,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
