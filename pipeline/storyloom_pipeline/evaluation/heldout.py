"""The held-out chunks an evaluation runs on, chosen reproducibly and written down.

The chunk dataset is split by book (`chunk_dataset`), so its test split holds books that no
model was trained on. From that split a fixed `sample` of chunks is drawn with a fixed `seed`
(all of them when the split is smaller); the same dataset, seed and size always give the same
chunks. `selection.json` records exactly which: every chunk's id and a hash of its text, so a
report can say what it measured and a resumed run can tell when the dataset changed under it.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyloom_pipeline.reasoning.chunk_source import Chunk, load_chunks

DEFAULT_SPLIT = "test"
DEFAULT_SAMPLE = 50


class HeldOutError(ValueError):
    pass


def chunk_digest(chunk: Chunk) -> str:
    payload = json.dumps([chunk.context, chunk.continuation])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class HeldOut:
    dataset: str
    split: str
    seed: int
    sample: int
    available: int  # chunks in the split
    chunks: tuple[Chunk, ...]

    def describe(self) -> dict[str, Any]:
        """What selection.json and the metrics record."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "seed": self.seed,
            "sample": self.sample,
            "available": self.available,
            "chunks": [
                {
                    "chunk_id": chunk.chunk_id,
                    "book_id": chunk.book_id,
                    "title": chunk.title,
                    "chunk_index": chunk.chunk_index,
                    "sha256_16": chunk_digest(chunk),
                }
                for chunk in self.chunks
            ],
        }


def select_held_out(
    dataset: Path, *, split: str = DEFAULT_SPLIT, sample: int = DEFAULT_SAMPLE, seed: int = 0
) -> HeldOut:
    """`sample` chunks of `split`, drawn with `seed`, in (book, chunk index) order."""
    if sample < 1:
        raise HeldOutError(f"the sample needs at least one chunk, not {sample}")
    chunks = [chunk for chunk in load_chunks(dataset) if chunk.split == split]
    if not chunks:
        raise HeldOutError(
            f"{dataset}: no {split!r} split (a corpus of very few books may give no test "
            "split; see the dataset's README.md)"
        )
    chunks.sort(key=lambda chunk: (chunk.book_id, chunk.chunk_index))
    picked = sorted(random.Random(seed).sample(range(len(chunks)), min(sample, len(chunks))))
    return HeldOut(
        dataset=str(dataset.resolve()),
        split=split,
        seed=seed,
        sample=sample,
        available=len(chunks),
        chunks=tuple(chunks[i] for i in picked),
    )


def write_selection(held_out: HeldOut, path: Path) -> None:
    path.write_text(json.dumps(held_out.describe(), indent=2, ensure_ascii=False) + "\n")
