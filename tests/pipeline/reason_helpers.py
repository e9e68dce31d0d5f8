"""Small synthetic chunk datasets in the chunk stage's schema, for the reason/dataset tests."""

from __future__ import annotations

from pathlib import Path

CHUNK_FORMAT = "chunks-test"


def chunk_rows(books: dict[str, int]) -> list[dict]:
    """`books`: book_id -> number of chunks. Texts are short but distinct."""
    rows = []
    for book_id, count in books.items():
        for index in range(count):
            context = f"Book {book_id}, window {index}. The rain had not stopped. " * 3
            continuation = f"“Open the door,” said Mr. Hale in book {book_id}, part {index}."
            rows.append(
                {
                    "book_id": book_id,
                    "title": f"Title {book_id}",
                    "author": "Anon",
                    "chunk_index": index,
                    "context": context.strip(),
                    "continuation": continuation,
                    "char_start": index * 1000,
                    "char_end": index * 1000 + 900,
                    "format_version": CHUNK_FORMAT,
                }
            )
    return rows


def write_chunks(out: Path, splits: dict[str, dict[str, int]], *, parquet: bool = True) -> Path:
    """Write a chunk dataset like the chunk stage does: save_to_disk(out) and, with `parquet`,
    out/data/<split>.parquet."""
    import datasets

    dataset = datasets.DatasetDict(
        {split: datasets.Dataset.from_list(chunk_rows(books)) for split, books in splits.items()}
    )
    dataset.save_to_disk(str(out))
    if parquet:
        (out / "data").mkdir(exist_ok=True)
        for split, part in dataset.items():
            part.to_parquet(str(out / "data" / f"{split}.parquet"))
    return out


SMALL = {"train": {"11": 6, "12": 6}, "validation": {"13": 2}, "test": {"14": 2}}


def reason_argv(chunks: Path, journal: Path, url: str, *extra: str) -> list[str]:
    return [
        "reason",
        "--chunks",
        str(chunks),
        "--journal",
        str(journal),
        "--base-url",
        url,
        "--model",
        "teacher/test",
        "--backoff",
        "0.02",
        *extra,
    ]
