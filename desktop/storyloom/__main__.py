"""`storyloom` / `python -m storyloom`: start the desktop app."""

from __future__ import annotations

import argparse
import sys

from storyloom import __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(prog="storyloom", description="Storyloom, a writing tool.")
    parser.add_argument("--version", action="version", version=f"storyloom {__version__}")
    # Qt consumes its own options (-platform, -style, …); keep them for QApplication.
    _, qt_args = parser.parse_known_args(argv[1:])

    from storyloom.gui.app import run  # Qt is imported only once we know we start the GUI

    return run([argv[0], *qt_args])


if __name__ == "__main__":
    sys.exit(main())
