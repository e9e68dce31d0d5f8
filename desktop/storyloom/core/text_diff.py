"""A line diff for the writer's eyes: what recovery would bring back, what changed on disk."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from storyloom.core.wording import counted

_HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # " " in both, "-" only in the old text, "+" only in the new, "@" a new stretch
    text: str


@dataclass(frozen=True, slots=True)
class TextDiff:
    lines: tuple[DiffLine, ...]
    added: int  # lines only in the new text
    removed: int  # lines only in the old text

    @property
    def identical(self) -> bool:
        return not self.added and not self.removed

    def summary(self) -> str:
        if self.identical:
            return "No differences."
        return f"{counted(self.added, 'line')} added, {self.removed:,} removed"


def diff_lines(old: str, new: str, context: int = 2) -> TextDiff:
    """The changes from `old` to `new`, with `context` unchanged lines around each."""
    lines: list[DiffLine] = []
    added = removed = 0
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context)
    for line in diff:
        if line.startswith(("---", "+++")) and not lines:
            continue  # the two file headers
        if line.startswith("@@"):
            match = _HUNK.match(line)
            where = f"line {match[2]}" if match else ""
            lines.append(DiffLine("@", where))
            continue
        kind, text = line[:1], line[1:]
        added += kind == "+"
        removed += kind == "-"
        lines.append(DiffLine(kind, text))
    return TextDiff(tuple(lines), added, removed)
