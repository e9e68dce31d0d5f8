"""Books from a local folder of Project Gutenberg text files (the offline path)."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from storyloom_pipeline.books.load import load_book
from storyloom_pipeline.books.model import Book, BookError
from storyloom_pipeline.books.store import PendingBooks


def read_catalog(path: Path) -> dict[str, tuple[str, ...]]:
    """Subjects by ebook number from a tab-separated catalogue with an `ebook_number` (or `id`)
    column and a `subjects` (";"-separated) and/or `genre` column, such as the shared corpus's
    MANIFEST.tsv."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BookError(f"{path}: cannot read the catalogue ({exc})") from exc
    catalog = {}
    for row in rows:
        ebook_id = (row.get("ebook_number") or row.get("id") or "").strip()
        if not ebook_id:
            continue
        subjects = [s.strip() for s in (row.get("subjects") or "").split(";") if s.strip()]
        if (row.get("genre") or "").strip():
            subjects.append(row["genre"].strip())
        catalog[ebook_id] = tuple(subjects)
    if not catalog:
        raise BookError(f"{path}: no rows with an ebook_number or id column")
    return catalog


def local_books(
    folder: Path, *, catalog: dict[str, tuple[str, ...]] | None = None, keep_unmarked: bool = False
) -> PendingBooks:
    """Every `*.txt` file in `folder`, by name; subjects from `catalog` by ebook number."""
    if not folder.is_dir():
        raise BookError(f"{folder}: not a folder")
    for path in sorted(folder.glob("*.txt")):

        def make(path: Path = path) -> Book:
            book = load_book(path, keep_unmarked=keep_unmarked)
            subjects = (catalog or {}).get(book.ebook_id)
            return dataclasses.replace(book, subjects=subjects) if subjects else book

        yield str(path.resolve()), make
