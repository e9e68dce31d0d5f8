"""Small pieces of the messages the writer reads."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """ "1 line", "2 lines", "1,204 words": a count with its noun in the right number (nouns
    whose plural takes an "s")."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
