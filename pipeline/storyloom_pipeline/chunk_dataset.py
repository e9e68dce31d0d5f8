"""Books -> the chunk dataset: a `DatasetDict` on disk, parquet files and a dataset card.

- Input: a folder of clean books (`storyloom-pipeline books` output, `*.json`) or of raw PG
  texts (`*.txt`, cleaned on the way).
- Books are processed in parallel (`num_proc` worker processes), each to a shard file under
  `<out>/.shards/<settings>/`; a resumed run reuses the shards of books already done with the
  same settings (a source file changed since is done again).
- Splits are by book: the books that gave chunks are shuffled with the seed and each goes to the
  split whose share of all chunks its own chunks' midpoint falls in (0.8/0.1/0.1 by default),
  so no book is in two splits and the split sizes follow the fractions in chunks.
- Output: `save_to_disk(<out>)`, `<out>/data/<split>.parquet`, and `<out>/README.md`; a split
  that got no book (a corpus of two books) is left out.
  Rows are ordered by split, book id, chunk index; the same input, settings and seed give the
  same dataset, whatever `num_proc`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storyloom_pipeline.books import Book, BookError, load_book, read_book
from storyloom_pipeline.chunks import CHUNK_FORMAT_VERSION, ChunkConfig, chunk_book, skip_reason
from storyloom_pipeline.dataset_card import write_card
from storyloom_pipeline.sentences import SentenceSplitter

SPLIT_NAMES = ("train", "validation", "test")
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class BuildSettings:
    chunks: ChunkConfig = field(default_factory=ChunkConfig)
    languages: tuple[str, ...] = ("en",)
    fiction_only: bool = True
    seed: int = 0
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def __post_init__(self) -> None:
        if len(self.splits) != len(SPLIT_NAMES) or any(f < 0 for f in self.splits):
            raise ValueError("splits are three non-negative fractions: train, validation, test")
        if abs(sum(self.splits) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must add up to 1, not {sum(self.splits):g}")

    def shard_key(self) -> str:
        """Names the shard folder: shards made under other chunk settings are not reused."""
        chunk_settings = {**asdict(self.chunks), "step": self.chunks.step}
        payload = json.dumps(
            [CHUNK_FORMAT_VERSION, chunk_settings, self.languages, self.fiction_only],
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class BookResult:
    """What one book gave; also the content of its shard file."""

    source: str
    book_id: str = ""
    title: str = ""
    author: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    windows: int = 0
    skipped_non_prose: int = 0
    skip_reason: str | None = None


@dataclass
class BuildReport:
    out: Path
    books: list[BookResult]
    split_of_book: dict[str, str]
    rows_per_split: dict[str, int]
    resumed: int

    def books_per_split(self) -> dict[str, int]:
        counts = dict.fromkeys(self.rows_per_split, 0)
        for split in self.split_of_book.values():
            counts[split] += 1
        return counts


def book_files(folder: Path) -> list[Path]:
    """The books in a folder: clean `*.json` books if there are any, else raw `*.txt` files,
    in ebook-number order."""
    if not folder.is_dir():
        raise BookError(f"{folder}: not a folder")
    files = sorted(folder.glob("*.json")) or sorted(folder.glob("*.txt"))
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in _NUMBER.split(path.name)]


def build_chunk_dataset(
    sources: Sequence[Path],
    out: Path,
    settings: BuildSettings,
    *,
    num_proc: int = 1,
    splitter: SentenceSplitter | None = None,
    on_book: Callable[[BookResult], None] | None = None,
) -> BuildReport:
    """Chunk `sources`, assign splits, write the dataset, its parquet files and its card."""
    out.mkdir(parents=True, exist_ok=True)
    shard_dir = out / ".shards" / settings.shard_key()
    shard_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, BookResult] = {}
    for path in sources:
        shard = _read_shard(_shard_path(shard_dir, path))
        if shard is not None:
            results[str(path)] = dataclasses.replace(shard, source=str(path))
    resumed = list(results.values())
    todo = [path for path in sources if str(path) not in results]
    splitter = splitter or SentenceSplitter()
    for result in itertools.chain(
        resumed, _process_all(todo, shard_dir, settings, splitter, num_proc)
    ):
        results[result.source] = result
        if on_book:
            on_book(result)
    books = list(results.values())
    books.sort(key=lambda book: (_natural_key(Path(book.book_id or book.source)), book.source))
    _drop_duplicates(books)
    split_of_book = assign_splits(
        [(book.book_id, len(book.rows)) for book in books if book.rows],
        settings.splits,
        settings.seed,
    )
    rows_per_split = _write_dataset(out, books, split_of_book)
    report = BuildReport(
        out=out,
        books=books,
        split_of_book=split_of_book,
        rows_per_split=rows_per_split,
        resumed=len(resumed),
    )
    write_card(out / "README.md", report, settings)
    return report


def _drop_duplicates(books: list[BookResult]) -> None:
    """The same ebook from two files (a raw and a clean copy) would straddle splits: keep the
    first one's chunks."""
    first_source: dict[str, str] = {}
    for book in books:
        if not book.rows:
            continue
        if book.book_id in first_source:
            book.rows = []
            book.skip_reason = f"duplicate of {first_source[book.book_id]}"
        else:
            first_source[book.book_id] = book.source


def assign_splits(
    books: Sequence[tuple[str, int]], fractions: Sequence[float], seed: int
) -> dict[str, str]:
    """Give each (book_id, chunk count) a split; see the module docstring."""
    order = sorted(books)
    random.Random(seed).shuffle(order)
    total = sum(count for _, count in order) or 1
    bounds = [sum(fractions[: i + 1]) for i in range(len(fractions))]
    assigned = {}
    done = 0
    for book_id, count in order:
        midpoint = (done + count / 2) / total
        index = next((i for i, bound in enumerate(bounds) if midpoint < bound), len(bounds) - 1)
        assigned[book_id] = SPLIT_NAMES[index]
        done += count
    return assigned


# -- per-book work (also in worker processes) ------------------------------------------------

_worker_state: dict[str, Any] = {}


def _process_all(
    todo: list[Path],
    shard_dir: Path,
    settings: BuildSettings,
    splitter: SentenceSplitter,
    num_proc: int,
) -> Iterator[BookResult]:
    if num_proc <= 1 or len(todo) <= 1:
        _init_worker(shard_dir, settings, splitter)
        yield from map(_process_book, todo)
        return
    # the biggest books first, so that no worker is left with a big book at the end
    largest_first = sorted(todo, key=_size, reverse=True)
    # fork keeps the loaded Punkt model; elsewhere the workers load their own
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    # objects made before the fork stay out of the workers' garbage collections, which would
    # otherwise touch (and so copy) every page of the parent's memory
    gc.freeze()
    try:
        with context.Pool(
            min(num_proc, len(todo)), _init_worker, (shard_dir, settings, splitter)
        ) as pool:
            yield from pool.imap_unordered(_process_book, largest_first)
    finally:
        gc.unfreeze()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _init_worker(shard_dir: Path, settings: BuildSettings, splitter: SentenceSplitter) -> None:
    _worker_state.update(shard_dir=shard_dir, settings=settings, splitter=splitter)


def _process_book(source: Path) -> BookResult:
    settings: BuildSettings = _worker_state["settings"]
    result = BookResult(source=str(source))
    try:
        book = _read_any(source)
    except BookError as exc:
        result.skip_reason = str(exc)
    else:
        result.book_id, result.title, result.author = book.ebook_id, book.title, book.author
        result.skip_reason = skip_reason(book, settings.languages, settings.fiction_only)
        if result.skip_reason is None:
            chunks = chunk_book(book, settings.chunks, _worker_state["splitter"])
            result.rows = chunks.rows
            result.windows = chunks.windows
            result.skipped_non_prose = chunks.skipped_non_prose
    _write_shard(_shard_path(_worker_state["shard_dir"], source), result)
    return result


def _read_any(source: Path) -> Book:
    return read_book(source) if source.suffix == ".json" else load_book(source)


def _shard_path(shard_dir: Path, source: Path) -> Path:
    """One shard per source file and version: a file changed since is chunked again."""
    try:
        stat = source.stat()
        version = f"{stat.st_size}\0{stat.st_mtime_ns}"
    except OSError:  # unreadable: its shard records the error
        version = ""
    identity = f"{source.resolve()}\0{version}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return shard_dir / f"{source.stem}-{digest}.json"


def _write_shard(path: Path, result: BookResult) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(result), out, ensure_ascii=False)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_shard(path: Path) -> BookResult | None:
    try:
        return BookResult(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None  # missing or damaged: the book is processed again


# -- writing ---------------------------------------------------------------------------------


def _write_dataset(
    out: Path, books: list[BookResult], split_of_book: dict[str, str]
) -> dict[str, int]:
    from datasets import Dataset, DatasetDict, Features, Value

    features = Features(
        {
            "book_id": Value("string"),
            "title": Value("string"),
            "author": Value("string"),
            "chunk_index": Value("int32"),
            "context": Value("string"),
            "continuation": Value("string"),
            "char_start": Value("int64"),
            "char_end": Value("int64"),
            "format_version": Value("string"),
        }
    )
    columns: dict[str, dict[str, list[Any]]] = {
        split: {name: [] for name in features} for split in SPLIT_NAMES
    }
    for book in books:
        split = split_of_book.get(book.book_id)
        if split is None:
            continue
        for row in book.rows:
            for name, value in row.items():
                columns[split][name].append(value)
    for split in SPLIT_NAMES:  # a split left from an earlier run must not linger
        shutil.rmtree(out / split, ignore_errors=True)
        (out / "data" / f"{split}.parquet").unlink(missing_ok=True)
    # a split without books is left out: datasets cannot load an empty split back from disk
    dataset = DatasetDict(
        {
            split: Dataset.from_dict(columns[split], features=features)
            for split in SPLIT_NAMES
            if columns[split]["book_id"]
        }
    )
    if dataset:
        with _quiet_datasets():  # the caller shows progress by book
            dataset.save_to_disk(str(out))
            (out / "data").mkdir(exist_ok=True)
            for split, part in dataset.items():
                part.to_parquet(str(out / "data" / f"{split}.parquet"))
    return {split: len(part) for split, part in dataset.items()}


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
