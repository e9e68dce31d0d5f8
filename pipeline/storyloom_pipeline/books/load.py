"""Turn a Project Gutenberg file (or its bytes) into a `Book`."""

from __future__ import annotations

import re
from pathlib import Path

from storyloom_pipeline.books.cleaning import clean_body
from storyloom_pipeline.books.gutenberg import decode_text, parse_header, split_gutenberg
from storyloom_pipeline.books.model import Book, BookError

_DIGITS = re.compile(r"\d+")


def load_book(path: str | Path, *, keep_unmarked: bool = False) -> Book:
    """Read and clean one PG text file.

    A file without a `*** START OF …` marker is not taken for a PG book: `BookError`, unless
    `keep_unmarked`, when the whole text is cleaned as the body and the ebook number comes from
    the file name. Unreadable files raise `BookError` too.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BookError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    number = _DIGITS.search(path.stem)
    return book_from_bytes(
        data,
        fallback_id=number.group() if number else path.stem,
        source=str(path),
        keep_unmarked=keep_unmarked,
    )


def book_from_bytes(
    data: bytes,
    *,
    fallback_id: str,
    source: str = "",
    keep_unmarked: bool = False,
    title: str = "",
    author: str = "",
    language: str = "",
    subjects: tuple[str, ...] = (),
) -> Book:
    """Decode, split, read the header and clean. The header's metadata wins; the keyword
    arguments (a catalogue's metadata) fill what the header lacks."""
    return book_from_text(
        decode_text(data),
        fallback_id=fallback_id,
        source=source,
        keep_unmarked=keep_unmarked,
        title=title,
        author=author,
        language=language,
        subjects=subjects,
    )


def book_from_text(
    text: str,
    *,
    fallback_id: str,
    source: str = "",
    keep_unmarked: bool = False,
    title: str = "",
    author: str = "",
    language: str = "",
    subjects: tuple[str, ...] = (),
) -> Book:
    """As `book_from_bytes`, for text already decoded (line endings are normalised here)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parts = split_gutenberg(text)
    if not parts.has_markers and not keep_unmarked:
        raise BookError(f"{source or fallback_id}: no Project Gutenberg START marker")
    header = parse_header(parts.header)
    clean = clean_body(parts.body)
    if not clean.strip():
        raise BookError(f"{source or fallback_id}: no text left after cleaning")
    return Book(
        ebook_id=header.ebook_id or fallback_id,
        title=header.title or title,
        author=header.author or author,
        language=header.language or language,
        text=clean,
        subjects=subjects,
        source=source,
    )
