"""A book's sentences in windows: the first `context` sentences, then `continuation` more.

Window k covers sentences [k·stride, k·stride + context + continuation) of the book; the stride
defaults to the window size, so windows do not overlap. A tail too short for a window is left
out.

The non-prose rule: every sentence is prose or not by its paragraph (`books.paragraphs.is_prose`:
headings, lists, tables, verse, bracketed notes are not). A window is skipped when more than
`max_non_prose` (default one half: "mostly") of its context's sentences, or of its
continuation's, are not prose. `chunk_index` is k, so a skipped window leaves a gap.

A row's `context` and `continuation` are slices of the book's clean text (paragraph breaks
kept), from the first sentence's start to the last one's end; `char_start`/`char_end` bound
the whole window in `Book.text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from storyloom_pipeline.books import Book
from storyloom_pipeline.books.paragraphs import is_prose
from storyloom_pipeline.sentences import SentenceSplitter

CHUNK_FORMAT_VERSION = "chunks-1"

# Names and ISO 639-1 codes of the languages PG has most books in; a header says "English".
_LANGUAGE_NAMES = {
    "en": "english",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "fi": "finnish",
    "sv": "swedish",
    "la": "latin",
    "el": "greek",
    "zh": "chinese",
}
_FICTION = re.compile(r"(?<![\w-])(?:fiction|stories|novels?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ChunkConfig:
    context: int = 80
    continuation: int = 20
    stride: int | None = None  # None: context + continuation (no overlap)
    max_non_prose: float = 0.5

    def __post_init__(self) -> None:
        if self.context < 1 or self.continuation < 1:
            raise ValueError("context and continuation need at least one sentence each")
        if self.stride is not None and self.stride < 1:
            raise ValueError("the stride must be at least one sentence")
        if not 0.0 <= self.max_non_prose <= 1.0:
            raise ValueError("max_non_prose is a fraction between 0 and 1")

    @property
    def window(self) -> int:
        return self.context + self.continuation

    @property
    def step(self) -> int:
        return self.stride or self.window


@dataclass(frozen=True)
class BookChunks:
    rows: list[dict[str, Any]]
    windows: int  # complete windows in the book
    skipped_non_prose: int  # of those, skipped by the non-prose rule


def book_sentences(text: str, splitter: SentenceSplitter) -> list[tuple[int, int, bool]]:
    """(start, end, is_prose) of every sentence of a clean text."""
    return [
        (start, end, prose)
        for paragraph_start, paragraph_end, spans in splitter.spans_by_paragraph(text)
        for prose in [is_prose(text[paragraph_start:paragraph_end])]
        for start, end in spans
    ]


def chunk_book(book: Book, config: ChunkConfig, splitter: SentenceSplitter) -> BookChunks:
    sentences = book_sentences(book.text, splitter)
    rows = []
    windows = skipped = 0
    for index, first in enumerate(range(0, len(sentences) - config.window + 1, config.step)):
        windows += 1
        context = sentences[first : first + config.context]
        continuation = sentences[first + config.context : first + config.window]
        if _mostly_non_prose(context, config) or _mostly_non_prose(continuation, config):
            skipped += 1
            continue
        rows.append(
            {
                "book_id": book.ebook_id,
                "title": book.title,
                "author": book.author,
                "chunk_index": index,
                "context": book.text[context[0][0] : context[-1][1]],
                "continuation": book.text[continuation[0][0] : continuation[-1][1]],
                "char_start": context[0][0],
                "char_end": continuation[-1][1],
                "format_version": CHUNK_FORMAT_VERSION,
            }
        )
    return BookChunks(rows=rows, windows=windows, skipped_non_prose=skipped)


def _mostly_non_prose(sentences: list[tuple[int, int, bool]], config: ChunkConfig) -> bool:
    non_prose = sum(not prose for _, _, prose in sentences)
    return non_prose > config.max_non_prose * len(sentences)


def skip_reason(book: Book, languages: tuple[str, ...], fiction_only: bool) -> str | None:
    """Why a book gives no chunks at all, or None.

    Language: the header's `Language:` (a name, or a code from a catalogue) must be one of
    `languages` (codes or names; English only by default; "any" turns the check off, and a
    book of unknown language passes only then). Genre: with `fiction_only`, a book
    whose catalogue subjects are known must have one saying fiction, stories or novel
    ("Sea stories", "Psychological fiction"; "Nonfiction" does not count). A book without
    subjects (a bare PG file) is given the benefit of the doubt.
    """
    wanted = {_language_name(language) for language in languages}
    spoken = {_language_name(part) for part in re.split(r"[,;/]| and ", book.language)}
    if "any" not in wanted and not spoken & wanted:
        return f"language {book.language or 'unknown'!r} not in {sorted(languages)}"
    if fiction_only and book.subjects and not any(_FICTION.search(s) for s in book.subjects):
        return f"not fiction (subjects: {'; '.join(book.subjects)})"
    return None


def _language_name(value: str) -> str:
    value = value.strip().casefold()
    return _LANGUAGE_NAMES.get(value, value)
