"""`storyloom-pipeline`: one command per pipeline stage.

Subcommands import their heavy dependencies (torch, transformers, …) only when they run, so
`--help` is instant and a missing `pipeline` extra is reported clearly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from storyloom import prompting
from storyloom_pipeline import __version__


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"storyloom-pipeline: cannot read {path}: {exc}") from exc


def _cmd_prompt(args: argparse.Namespace) -> int:
    """Print the exact text a model is given for a story, as the app would send it."""
    context = _read_text(args.context)
    messages = prompting.continuation_messages(context, args.guidance)
    if args.format == "user":
        out = messages[-1]["content"]
    elif args.format == "chatml":
        out = prompting.render_chatml(messages)
    else:
        out = json.dumps({"messages": messages}, ensure_ascii=False, indent=2) + "\n"
    sys.stdout.write(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storyloom-pipeline",
        description="Make Storyloom's creative reasoning models, stage by stage.",
    )
    parser.add_argument("--version", action="version", version=f"storyloom-pipeline {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prompt = commands.add_parser(
        "prompt",
        help=f"show the prompt a model gets for a story (format {prompting.PROMPT_FORMAT_VERSION})",
        description=_cmd_prompt.__doc__,
    )
    prompt.add_argument("context", help="a UTF-8 text file with the story so far, or - for stdin")
    prompt.add_argument("--guidance", help="one sentence saying what should happen next")
    prompt.add_argument(
        "--format",
        choices=("user", "chatml", "messages"),
        default="chatml",
        help="user turn only, the raw ChatML sent to Ollama (default), or chat messages as JSON",
    )
    prompt.set_defaults(func=_cmd_prompt)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
