"""Read the chunk stage's output: a `save_to_disk` DatasetDict folder, a folder of parquet
files (`<dir>/data/<split>.parquet` or `<dir>/<split>.parquet`) or one parquet file.

Parquet is read with pyarrow alone (fast start, which a resumed run appreciates); a folder
without parquet files goes through `datasets.load_from_disk`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyloom import prompting

REQUIRED = ("book_id", "chunk_index", "context", "continuation")
OPTIONAL = ("title",)  # read when the dataset has it (the chunk stage writes it)
MODES = ("plain", "guided")
SPLIT_ORDER = ("train", "validation", "test")


class ChunkSourceError(ValueError):
    pass


@dataclass(frozen=True)
class Chunk:
    book_id: str
    chunk_index: int
    context: str
    continuation: str
    split: str
    title: str = ""

    @property
    def chunk_id(self) -> str:
        return f"{self.book_id}#{self.chunk_index}"


def prompt_hash(chunk: Chunk, mode: str, model: str) -> str:
    """Names the teacher request: a changed chunk text, teacher prompt, format version, mode
    or teacher model is a different request and is not taken as done."""
    if mode == "plain":
        prompt = prompting.render_monologue_prompt(chunk.context, chunk.continuation)
    elif mode == "guided":
        # the guided monologue prompt depends on the guidance the teacher writes; its template
        # is pinned by PROMPT_FORMAT_VERSION and the marker below
        prompt = prompting.render_guidance_prompt(chunk.context, chunk.continuation)
    else:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    payload = json.dumps([prompting.PROMPT_FORMAT_VERSION, mode, model, prompt])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def result_key(chunk: Chunk, mode: str, model: str) -> str:
    return f"{chunk.chunk_id}|{prompt_hash(chunk, mode, model)}"


def load_chunks(path: Path) -> list[Chunk]:
    """Every chunk under `path`, in split then row order."""
    if not path.exists():
        raise ChunkSourceError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".parquet":
            raise ChunkSourceError(f"{path}: expected a parquet file or a dataset folder")
        return _from_parquet([path])
    parquet = list((path / "data").glob("*.parquet")) or list(path.glob("*.parquet"))
    if parquet:
        return _from_parquet(sorted(parquet, key=_split_order))
    if (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file():
        return _from_disk(path)
    raise ChunkSourceError(f"{path}: neither parquet files nor a save_to_disk dataset")


def _split_order(file: Path) -> tuple[int, str]:
    split = file.stem.split("-")[0]
    return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER), file.name)


def _from_parquet(files: Iterable[Path]) -> list[Chunk]:
    import pyarrow.parquet as pq

    chunks: list[Chunk] = []
    for file in files:
        table = pq.read_table(file)
        _check_columns(file, table.column_names)
        rows = table.select(_columns(table.column_names)).to_pylist()
        chunks.extend(_chunk(row, file.stem.split("-")[0]) for row in rows)
    return chunks


def _from_disk(path: Path) -> list[Chunk]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    splits = loaded if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    chunks: list[Chunk] = []
    for split, dataset in splits.items():
        _check_columns(path / split, dataset.column_names)
        rows = dataset.select_columns(_columns(dataset.column_names)).to_list()
        chunks.extend(_chunk(row, split) for row in rows)
    return chunks


def _check_columns(where: Path, columns: list[str]) -> None:
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ChunkSourceError(f"{where}: not a chunk dataset, missing {', '.join(missing)}")


def _columns(present: list[str]) -> list[str]:
    return [*REQUIRED, *(name for name in OPTIONAL if name in present)]


def _chunk(row: Mapping[str, Any], split: str) -> Chunk:
    return Chunk(
        book_id=str(row["book_id"]),
        chunk_index=int(row["chunk_index"]),
        context=row["context"],
        continuation=row["continuation"],
        split=split,
        title=row.get("title") or "",
    )
