"""What a paragraph is: hard-wrapped prose, or lines to keep (verse, lists, tables, headings).

Two questions, asked at two stages:

- `keeps_line_breaks(lines, wrap)` while cleaning: PG wraps prose at ~70 columns, so every line
  of a prose paragraph but the last is nearly full. A paragraph keeps its line breaks when most
  of those lines are short (under 3/4 of the book's wrap width: verse, lists, title pages),
  when it has a table gap (4+ spaces inside a line: contents pages, lists of illustrations), or
  when it has 3+ lines that all start with a capital (verse, even long-lined verse).
- `is_prose(paragraph)` on clean text: the non-prose rule of the chunk stage. Not prose:
  a paragraph that kept line breaks; a bracketed note; a chapter/book/part/letter heading; a
  line mostly in capitals (judged on its first 80 characters); a line of up to 12 words in
  Title Case that does not open with a quote; a line under 20 words that does not end like a
  sentence (. ! ? … or a dash, after closing quotes; a colon after 3+ words leads into speech
  and counts). Everything else is prose.
"""

from __future__ import annotations

import re

_HEADING = re.compile(
    r"^\W*(?:chapter|book|part|volume|vol|letter|stave|epoch|section|canto|act|scene|adventure)"
    r"\b\W*(?:[0-9]+|[ivxlcdm]+\b|the\s+\w+|one|two|three|four|five|six|seven|eight|nine|ten)",
    re.IGNORECASE,
)
_TABLE_GAP = "    "  # inside a stripped line: a column gap
_CLOSERS = "\"'”’»)]_*"
_OPENING_QUOTES = "\"'“‘«"
_SENTENCE_END = ".!?…-—"
# A line this long (in words) that was wrapped as prose is prose whatever its last character.
_LONG_LINE_WORDS = 20
# Contents entries run long ("CHAPTER XVIII. Col. Grangerford.--Aristocracy.--Feuds.--…").
_HEADING_MAX_WORDS = 25
_TITLE_CASE_MAX_WORDS = 12
_COLON_MIN_WORDS = 3
_CASE_SAMPLE = 80  # characters looked at for the upper-case test: a heading is short


def wrap_width(lines: list[str]) -> int:
    """The width a book was wrapped at: the 90th percentile of its line lengths, kept within
    60..80 so that a book of verse (short lines throughout) is still measured against prose."""
    lengths = sorted(length for length in map(len, map(str.rstrip, lines)) if length)
    if not lengths:
        return 70
    return min(80, max(60, lengths[int(len(lengths) * 0.9)]))


def keeps_line_breaks(lines: list[str], wrap: int) -> bool:
    """True for verse, lists, tables and title pages; False for hard-wrapped prose.
    `lines` are the paragraph's lines, stripped."""
    if _TABLE_GAP in "\n".join(lines):  # the lines are stripped: only inner gaps are left
        return True
    if len(lines) < 2:
        return False
    short = sum(len(line) < wrap * 3 // 4 for line in lines[:-1])
    if short * 2 > len(lines) - 1:
        return True
    return len(lines) >= 3 and all(_starts_upper(line) for line in lines)


def _starts_upper(line: str) -> bool:
    for char in line:
        if char.isalpha():
            return char.isupper()
    return False


def is_prose(paragraph: str) -> bool:
    """The non-prose rule on a clean paragraph (see the module docstring)."""
    text = paragraph.strip()
    if not text or "\n" in text:
        return False
    if text.startswith("[") and text.endswith("]"):
        return False
    if _mostly_upper_case(text[:_CASE_SAMPLE]):
        return False
    # the first words are enough to judge (splitting every paragraph whole costs seconds a corpus)
    words = text.split(maxsplit=_HEADING_MAX_WORDS)
    if len(words) <= _HEADING_MAX_WORDS and _HEADING.match(text):
        return False
    if len(words) >= _LONG_LINE_WORDS:
        return True
    ending = text.rstrip(_CLOSERS)[-1:]
    # "…and began anew:" leads into speech; "Typos fixed:" is a label
    if ending not in _SENTENCE_END and not (ending == ":" and len(words) >= _COLON_MIN_WORDS):
        return False
    # dialogue ("“Hook! Hook!”") may be all capitals; headings do not open with a quote
    if text[0] in _OPENING_QUOTES:
        return True
    return not (len(words) <= _TITLE_CASE_MAX_WORDS and _is_title_case(words))


def _mostly_upper_case(sample: str) -> bool:
    """No letters, or more than 60% capitals among 4+ letters ("THE END.", "BOOK THE FIRST")."""
    letters = sum(map(str.isalpha, sample))
    capitals = sum(map(str.isupper, sample))
    return letters == 0 or (letters >= 4 and capitals > 0.6 * letters)


def _is_title_case(words: list[str]) -> bool:
    """Every word of four or more letters capitalised: "The Widow and her Child."."""
    long_words = [w.strip("\"'“”‘’()[]_.,;:!?") for w in words]
    long_words = [w for w in long_words if len(w) >= 4 and w[0].isalpha()]
    return bool(long_words) and all(w[0].isupper() for w in long_words)
