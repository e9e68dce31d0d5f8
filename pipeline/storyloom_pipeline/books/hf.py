"""Books from a Hugging Face dataset of Gutenberg texts, streamed with `datasets`.

Any dataset with one row per book works: a Hub name (`manu/project_gutenberg`) or a local
folder of parquet/JSON files. The text column is `text` (or `--text-column`), the id column the
first of `id`, `ebook_id`, `gutenberg_id`, `book_id` that exists (else the row number), and
`title`, `author`, `language` columns fill what a text's PG header lacks. Texts in such datasets
often have the header already stripped, so a text without PG markers is kept whole.
"""

from __future__ import annotations

import itertools
from typing import Any

from storyloom_pipeline.books.load import book_from_text
from storyloom_pipeline.books.model import Book, BookError
from storyloom_pipeline.books.store import PendingBooks

_ID_COLUMNS = ("id", "ebook_id", "gutenberg_id", "book_id")


def hf_books(
    name: str,
    *,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    id_column: str | None = None,
    limit: int | None = None,
) -> PendingBooks:
    from datasets import load_dataset

    try:
        rows = load_dataset(name, config, split=split, streaming=True)
    except Exception as exc:  # datasets raises many kinds: not found, offline, bad config, …
        raise BookError(f"{name}: cannot open the dataset ({exc})") from exc
    if rows.features is not None and text_column not in rows.features:
        columns = ", ".join(rows.features)
        raise BookError(f"{name}: no {text_column!r} column (columns: {columns})")
    stream = iter(rows)
    for number in itertools.count():
        if limit is not None and number >= limit:
            return
        try:
            row = next(stream)
        except StopIteration:
            return
        except Exception as exc:  # a Hub stream can fail midway, in many ways
            raise BookError(f"{name}: streaming stopped at row {number} ({exc})") from exc
        ebook_id = _row_id(row, id_column, number)

        def make(row: dict[str, Any] = row, ebook_id: str = ebook_id) -> Book:
            text = row.get(text_column)
            if not isinstance(text, str):
                raise BookError(f"{name} row {ebook_id}: no text in {text_column!r}")
            return book_from_text(
                text,
                fallback_id=ebook_id,
                source=f"hf:{name}",
                keep_unmarked=True,
                title=_text(row.get("title")),
                author=_text(row.get("author")),
                language=_text(row.get("language")),
            )

        yield f"hf:{name}:{config or ''}:{split}:{ebook_id}", make


def _row_id(row: dict[str, Any], id_column: str | None, number: int) -> str:
    for column in (id_column,) if id_column else _ID_COLUMNS:
        if row.get(column) not in (None, ""):
            return str(row[column])
    if id_column:
        raise BookError(f"row {number}: no value in the id column {id_column!r}")
    return str(number)


def _text(value: Any) -> str:
    """A metadata cell as text: lists (several authors or languages) are joined."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)
