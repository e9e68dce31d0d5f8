"""Counting words the way a novelist counts them.

A word is a run of characters between spaces, line breaks or dashes (an em dash joins two words
in print but they are still two words), and it must hold a letter or a digit: a lone "—", "*"
or "..." is not a word. "Don't", "well-known" and "1,200" each count once.

Recounting a whole novel after each pause in typing would cost tens of milliseconds on the GUI
thread, so `WordCounter` remembers the count of every paragraph and counts only the ones that
changed since it last looked (tests/bench/test_bench_files.py measures both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyloom.core.wording import counted

_DASHES = ("\u2013", "\u2014", "\u2015")  # en dash, em dash, horizontal bar
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def count_words(text: str) -> int:
    for dash in _DASHES:
        if dash in text:
            text = text.replace(dash, " ")
    has_word = _LETTER_OR_DIGIT.search
    return sum(1 for token in text.split() if token.isalnum() or has_word(token))


class WordCounter:
    """`count_words`, remembering each paragraph's count for the next call."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        known = self._counts
        counts = {}
        total = 0
        for paragraph in text.split("\n"):
            n = known.get(paragraph)
            if n is None:
                n = count_words(paragraph)
            counts[paragraph] = n
            total += n
        self._counts = counts  # only today's paragraphs: the cache never outgrows the text
        return total


@dataclass(frozen=True, slots=True)
class WordCounts:
    document: int
    selection: int  # 0 when nothing is selected
    session: int  # words added since the manuscript was opened (negative after cutting)

    def describe(self) -> str:
        parts = [counted(self.document, "word")]
        if self.selection:
            parts.append(f"{self.selection:,} selected")
        if self.session:
            parts.append(f"{self.session:+,} this session")
        return " · ".join(parts)
