"""`storyloom` / `python -m storyloom`: start the desktop app (or check an installed copy)."""

from __future__ import annotations

import argparse
import sys

from storyloom import __version__


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
    # Qt consumes its own options (-platform, -style, …); keep them for QApplication.
    args, qt_args = parser.parse_known_args(argv[1:])

    # Qt is imported only once we know we start the GUI (--version and --help need none).
    if args.self_test:
        from storyloom.gui import self_test

        return self_test.main([argv[0], *qt_args])

    from storyloom.gui.app import run

    return run([argv[0], *qt_args])


if __name__ == "__main__":
    sys.exit(main())
