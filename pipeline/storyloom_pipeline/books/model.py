"""A cleaned book and its on-disk form (one JSON file per book)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


class BookError(ValueError):
    """A book that cannot be used: unreadable, not a Project Gutenberg text, or malformed."""


@dataclass(frozen=True)
class Book:
    """A book's metadata and its clean text.

    `text` is paragraphs separated by one blank line. A prose paragraph is one line (the hard
    wrapping is undone); headings, lists, tables and verse keep their line breaks.
    `subjects` holds catalogue subjects or a genre where the source has them (Gutendex, a
    catalogue file), else it is empty.
    """

    ebook_id: str
    title: str
    author: str
    language: str
    text: str
    subjects: tuple[str, ...] = field(default=())
    source: str = ""


def book_path(folder: Path, ebook_id: str) -> Path:
    return folder / f"{ebook_id}.json"


def write_book(book: Book, folder: Path) -> Path:
    """Write `book` as `<folder>/<ebook_id>.json`, atomically, so an interrupted run never
    leaves a half-written book that a resumed run would take for finished."""
    folder.mkdir(parents=True, exist_ok=True)
    target = book_path(folder, book.ebook_id)
    record = asdict(book)
    record["subjects"] = list(book.subjects)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{book.ebook_id}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_book(path: Path) -> Book:
    """Read a book written by `write_book`."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Book(
            ebook_id=str(record["ebook_id"]),
            title=record["title"],
            author=record["author"],
            language=record["language"],
            text=record["text"],
            subjects=tuple(record.get("subjects", ())),
            source=record.get("source", ""),
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BookError(f"{path}: not a clean book file ({exc})") from exc
