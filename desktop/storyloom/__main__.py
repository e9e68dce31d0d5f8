"""`storyloom` / `python -m storyloom`: start the desktop app (or check an installed copy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from storyloom import __version__

# Qt's own options that take a value: kept whole for QApplication, so that the value of
# `-platform offscreen` is not mistaken for the manuscript to open.
_QT_OPTIONS_WITH_VALUE = frozenset(
    [
        "-platform",
        "-platformpluginpath",
        "-platformtheme",
        "-plugin",
        "-style",
        "-stylesheet",
        "-session",
        "-display",
        "-geometry",
        "-qwindowgeometry",
        "-qwindowtitle",
        "-qwindowicon",
        "-qmljsdebugger",
    ]
)


def _split_qt_options(args: list[str]) -> tuple[list[str], list[str]]:
    """(Storyloom's arguments, Qt's options with their values)."""
    ours: list[str] = []
    qt: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token in _QT_OPTIONS_WITH_VALUE:
            qt += [token, next(tokens, "")]
        else:
            ours.append(token)
    return ours, qt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(prog="storyloom", description="Storyloom, a writing tool.")
    parser.add_argument("--version", action="version", version=f"storyloom {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start offscreen, check the window, the prompt format and the settings store, "
        "print one line per check and exit (0 when all pass); needs no display and no Ollama",
    )
    parser.add_argument("manuscript", nargs="?", type=Path, help="a .txt or .md file to open")
    # Qt consumes its own options (-platform, -style, -reverse, …); keep them for QApplication.
    ours, qt_args = _split_qt_options(argv[1:])
    args, unknown = parser.parse_known_args(ours)
    qt_args += unknown

    # Qt is imported only once we know we start the GUI (--version and --help need none).
    if args.self_test:
        from storyloom.gui import self_test

        return self_test.main([argv[0], *qt_args])

    from storyloom.gui.app import run

    return run([argv[0], *qt_args], args.manuscript)


if __name__ == "__main__":
    sys.exit(main())
