"""The `books` output folder: one `<ebook_id>.json` per clean book, plus `index.jsonl`
(which source gave which book) so that a resumed run skips sources already done."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from storyloom_pipeline.books.model import Book, book_path, write_book

# A source of books yields (source key, a function that fetches and cleans the book). The key
# is checked against the store before the function runs, so nothing done is fetched again.
PendingBook = tuple[str, Callable[[], Book]]
PendingBooks = Iterator[PendingBook]


class BookStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._index = folder / "index.jsonl"
        self._done: dict[str, str] = {}
        if self._index.is_file():
            for line in self._index.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    source, ebook_id = record["source"], record["ebook_id"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run
                if book_path(folder, ebook_id).is_file():
                    self._done[source] = ebook_id

    def has(self, source: str) -> bool:
        return source in self._done

    def add(self, source: str, book: Book) -> Path:
        path = write_book(book, self.folder)
        with self._index.open("a", encoding="utf-8") as index:
            index.write(json.dumps({"source": source, "ebook_id": book.ebook_id}) + "\n")
        self._done[source] = book.ebook_id
        return path
