"""Shared by the evaluation's tests."""

from __future__ import annotations


def shown(prompt: str) -> tuple[str, str]:
    """The two continuations a judge prompt shows, as A and B."""
    a = prompt.split("### Continuation A\n", 1)[1].split("\n\n### Continuation B\n", 1)
    return a[0], a[1].split("\n\nJustify", 1)[0]
