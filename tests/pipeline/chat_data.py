"""A small chat training set cut from the real Gutenberg books, for the training tests.

Chunks come from the real chunker (sentences from the offline Punkt splitter), only shorter
than the real 80/20 so a CPU step stays quick; the records come from `render_training_example`,
the function the `dataset` stage uses. The reasoning is scripted from the chunk (no teacher),
so every example is deterministic and different.
"""

from __future__ import annotations

import json
from pathlib import Path

from storyloom import prompting
from storyloom_pipeline.books.load import load_book
from storyloom_pipeline.chunks import ChunkConfig, chunk_book
from storyloom_pipeline.sentences import SentenceSplitter

SHORT_CHUNKS = ChunkConfig(context=4, continuation=2)


def scripted_reasoning(context: str, continuation: str) -> str:
    last = context.split()[-6:]
    first = continuation.split()[:6]
    return (
        f"The passage stops at “{' '.join(last)}”. The next beat should follow on at once, "
        f"in the same voice, opening with “{' '.join(first)}”."
    )


def chat_records(book_file: Path, count: int, splitter: SentenceSplitter) -> list[dict]:
    rows = chunk_book(load_book(book_file), SHORT_CHUNKS, splitter).rows
    if len(rows) < count:
        raise ValueError(f"{book_file} gives only {len(rows)} chunks")
    step = len(rows) // count  # spread over the book rather than its first pages
    return [
        prompting.render_training_example(
            row["context"],
            row["continuation"],
            scripted_reasoning(row["context"], row["continuation"]),
        )
        for row in rows[::step][:count]
    ]


def write_chat_dataset(
    gutenberg_dir: Path, out: Path, splitter: SentenceSplitter, *, train: int, validation: int
) -> Path:
    """`<out>/train.jsonl` from Alice (11) and Peter Pan (16), `<out>/validation.jsonl` from
    Pride and Prejudice (1342): split by book, as the dataset stage does."""
    splits = {
        "train": chat_records(gutenberg_dir / "11.txt", train - train // 2, splitter)
        + chat_records(gutenberg_dir / "16.txt", train // 2, splitter),
        "validation": chat_records(gutenberg_dir / "1342.txt", validation, splitter),
    }
    out.mkdir(parents=True, exist_ok=True)
    for split, records in splits.items():
        lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in records]
        (out / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
    return out
