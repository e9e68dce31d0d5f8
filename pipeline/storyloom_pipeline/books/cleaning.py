"""From a PG body (between the markers) to clean text: the book's own words, paragraph by paragraph.

In order:

1. Editorial blocks go: `[Illustration…]` (brackets balanced, over any number of lines),
   `[Transcriber's note…]`, `[Footnote…]`, `[Sidenote…]`, `[Music…]`, footnote anchors such
   as `[1]` or `[A]`, PG layout markup (`/* NIND … */`) and italics underscores (`_word_`).
2. The text is cut into paragraphs at blank lines. Hard-wrapped prose is re-flowed into one
   line (no space after a line-final dash); verse, lists, tables and headings keep their lines
   (`paragraphs.keeps_line_breaks`). A row of asterisks or dashes becomes `* * *`.
3. A table of contents or list of illustrations goes, from its heading up to the next prose
   paragraph with no indented line (captions and notes in such lists are indented).
4. Front matter: the text is grouped into sections at gaps of 3+ blank lines. The body starts
   at the first prose paragraph of 15+ words (in a book that is mostly verse: the first verse
   paragraph of 4+ lines), except that a section in which a paragraph mentioning Project
   Gutenberg, etexts, a producer credit, a copyright or a transcriber comes first is dropped
   whole (PG's own introductions run over several paragraphs). Title pages, dedications and
   epigraphs before the body go.
5. Anywhere: paragraphs that mention Project Gutenberg, producer credits, and transcriber's
   notes (the note and the paragraphs after it, to a separator or the end of its section) go.
6. Back matter: everything after the last prose paragraph (last verse paragraph of 4+ lines
   for verse) goes: "THE END", printers' colophons, lists of corrections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from storyloom_pipeline.books.paragraphs import is_prose, keeps_line_breaks, wrap_width

_EDITORIAL_OPENING = re.compile(
    r"\[\s*(?:Illustration|Transcriber|Footnote|Sidenote|Music)", re.IGNORECASE
)
_BRACKETS = re.compile(r"[\[\]]")
_FOOTNOTE_ANCHOR = re.compile(r"\[(?:\d{1,3}|[A-Z])\]")
# PG production markup around letters: "/* NIND “My dear Harriet, */"
_LAYOUT_MARKUP = re.compile(r"^([ \t]*)/\*[ \t]*(?:[A-Z]+\b)?[ \t]*|[ \t]*\*/[ \t]*$", re.MULTILINE)
# "_word_": an underscore that opens (no word before, text after) or closes (text before, no
# word after). Written to start with the literal "_" so the scan is fast.
_ITALICS = re.compile(r"_(?:(?<![\w_]_)(?=\S)|(?<=\S_)(?![\w_]))")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_SEPARATOR = re.compile(r"^[\s*\-=_.~·•]+$")
_DASH_AT_LINE_END = re.compile(r"(?:--|—)[ \t]*\n")
_SPACES = re.compile(r"[ \u00a0]{2,}")  # PG's double spacing after a full stop, NBSP included
# Cheap substrings first: searching every paragraph with the full pattern costs seconds a corpus.
_PG_HINTS = ("gutenberg", "pglaf", "pgdp", "proofread", "etext", "e-text")
_PG_MENTION = re.compile(
    r"project\s+gutenberg|gutenberg\.(?:org|net)|pglaf|pgdp\.net|distributed\s+proofread"
    r"|\be-?texts?\b",
    re.IGNORECASE,
)
_CREDIT = re.compile(
    r"^\W*(?:produced by|e-?text prepared by|prepared by|transcribed (?:from|by)"
    r"|this (?:e-?text|e-?book|file) was (?:produced|prepared|created|made))",
    re.IGNORECASE,
)
_TRANSCRIBER_NOTE = re.compile(
    r"^\W*(?:original\s+)?transcriber['’]?s?['’]?\s+notes?\b", re.IGNORECASE
)
_EDITION_NOTICE = re.compile(r"copyright|all rights reserved|public domain", re.IGNORECASE)
_CONTENTS_HEADING = re.compile(
    r"^\W*(?:table of contents|contents|list of illustrations|illustrations)\W*$", re.IGNORECASE
)

SECTION_GAP = 3  # blank lines between sections (PG leaves 3-5 around chapters and front matter)
BODY_MIN_WORDS = 15  # a prose paragraph this long opens the body
VERSE_MIN_LINES = 4


@dataclass(frozen=True)
class _Block:
    text: str
    lined: bool  # kept its line breaks (verse, list, table, heading)
    gap_before: int  # blank lines before it in the source
    indented: bool = False  # a source line was indented: a quotation, caption, list or letter

    @property
    def words(self) -> int:
        return len(self.text.split())


def clean_body(body: str) -> str:
    """Clean a PG body (see the module docstring); returns paragraphs separated by a blank line."""
    body = _remove_editorial_blocks(body)
    body = _FOOTNOTE_ANCHOR.sub("", body)
    if "/*" in body:
        body = _LAYOUT_MARKUP.sub(r"\1", body)
    if "_" in body:
        body = _ITALICS.sub("", body)
    body = body.expandtabs()
    blocks = _blocks(body, wrap_width(body.split("\n")))
    verse = _is_verse_book(blocks)
    blocks = _drop_contents(blocks)
    blocks = _drop_front_matter(blocks, verse)
    blocks = _drop_notes_and_credits(blocks)
    blocks = _drop_back_matter(blocks, verse)
    return "\n\n".join(block.text for block in blocks)


def _remove_editorial_blocks(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _EDITORIAL_OPENING.finditer(text):
        if match.start() < position:  # inside a block already removed
            continue
        pieces.append(text[position : match.start()])
        position = _closing_bracket(text, match.start())
    pieces.append(text[position:])
    return "".join(pieces)


def _closing_bracket(text: str, opening: int) -> int:
    """Index just past the bracket that closes the one at `opening`. An unclosed block ends
    with its paragraph: a missing "]" must not take the rest of the book with it."""
    depth = 0
    for bracket in _BRACKETS.finditer(text, opening):
        depth += 1 if bracket.group() == "[" else -1
        if depth == 0:
            return bracket.end()
    paragraph_end = _BLANK_LINES.search(text, opening)
    return paragraph_end.start() if paragraph_end else len(text)


def _blocks(body: str, wrap: int) -> list[_Block]:
    blocks: list[_Block] = []
    position = gap = 0
    for match in [*_BLANK_LINES.finditer(body), None]:
        end = match.start() if match else len(body)
        # only the first and last pieces can hold blank lines (the body's ends)
        paragraph = body[position:end].strip("\n")
        if paragraph.strip():
            blocks.append(_render(paragraph, wrap, gap))
        if match:
            gap, position = match.group().count("\n") - 1, match.end()
    return blocks


def _render(paragraph: str, wrap: int, gap: int) -> _Block:
    lines = paragraph.split("\n")
    stripped = [line.strip() for line in lines]
    if (
        len(stripped) == 1
        and _SEPARATOR.match(stripped[0])
        and len(stripped[0].replace(" ", "")) >= 3
    ):
        return _Block("* * *", lined=False, gap_before=gap)
    indented = paragraph.startswith(" ") or "\n " in paragraph
    if keeps_line_breaks(stripped, wrap):
        indent = min(len(line) - len(line.lstrip()) for line in lines)
        text = "\n".join(line[indent:].rstrip() for line in lines)
        return _Block(text, lined=True, gap_before=gap, indented=indented)
    if _DASH_AT_LINE_END.search(paragraph):
        joined = stripped[0]
        for piece in stripped[1:]:
            # PG wraps after a dash without a space: "shepherd boy--\nand the sneeze"
            joined += piece if joined.endswith(("--", "—")) else " " + piece
    else:
        joined = " ".join(stripped)
    if "  " in joined or "\u00a0" in joined:
        joined = _SPACES.sub(" ", joined)
    return _Block(joined, lined=False, gap_before=gap, indented=indented)


def _is_verse_book(blocks: list[_Block]) -> bool:
    lined = sum(len(block.text) for block in blocks if block.lined)
    return lined > sum(len(block.text) for block in blocks if not block.lined)


def _opens_body(block: _Block, verse: bool) -> bool:
    if verse:
        return block.lined and block.text.count("\n") + 1 >= VERSE_MIN_LINES
    return not block.lined and block.words >= BODY_MIN_WORDS and is_prose(block.text)


def _is_front_boilerplate(block: _Block) -> bool:
    text = block.text
    return bool(
        _mentions_pg(text)
        or _CREDIT.match(text)
        or _TRANSCRIBER_NOTE.match(text)
        or _EDITION_NOTICE.search(text)
    )


def _mentions_pg(text: str) -> bool:
    lower = text.lower()
    return any(hint in lower for hint in _PG_HINTS) and _PG_MENTION.search(text) is not None


def _drop_front_matter(blocks: list[_Block], verse: bool) -> list[_Block]:
    start = 0
    while start < len(blocks):
        end = next(
            (i for i in range(start + 1, len(blocks)) if blocks[i].gap_before >= SECTION_GAP),
            len(blocks),
        )
        for index in range(start, end):
            if _is_front_boilerplate(blocks[index]):
                break  # a PG introduction or a title page's notices: the whole section goes
            if _opens_body(blocks[index], verse):
                return blocks[index:]
        start = end
    return blocks  # no recognisable body: keep it all rather than lose a short text


def _drop_notes_and_credits(blocks: list[_Block]) -> list[_Block]:
    kept: list[_Block] = []
    in_note = False
    for block in blocks:
        if in_note and (block.gap_before >= SECTION_GAP or block.text == "* * *"):
            in_note = False
        if _TRANSCRIBER_NOTE.match(block.text):
            in_note = True
        if in_note or _mentions_pg(block.text) or _CREDIT.match(block.text):
            continue
        kept.append(block)
    return kept


def _drop_contents(blocks: list[_Block]) -> list[_Block]:
    kept: list[_Block] = []
    in_contents = False
    gap = 0  # the widest gap among dropped blocks: section boundaries must survive the drop
    for block in blocks:
        if _CONTENTS_HEADING.match(block.text):
            in_contents = True
        # captions and notes inside a list of illustrations are indented; the text after is not
        elif in_contents and not block.indented and is_prose(block.text):
            in_contents = False
        if in_contents:
            gap = max(gap, block.gap_before)
            continue
        kept.append(replace(block, gap_before=gap) if gap > block.gap_before else block)
        gap = 0
    return kept


def _closes_body(block: _Block, verse: bool) -> bool:
    """The body's last paragraph: verse of 4+ lines in a verse book, else any prose paragraph
    (a book may well end on a short line of dialogue)."""
    return _opens_body(block, verse) if verse else is_prose(block.text)


def _drop_back_matter(blocks: list[_Block], verse: bool) -> list[_Block]:
    for end in range(len(blocks), 0, -1):
        if _closes_body(blocks[end - 1], verse):
            return blocks[:end]
    return blocks
