"""P3: the whole shared corpus -> chunk dataset, in MB/s of raw PG files.

Three ways, measured in the same run and interleaved, best of `ROUNDS` each (the machine is
shared: the best run is the one least disturbed):

- seed-style baseline, one process: each raw file decoded, `nltk.sent_tokenize` over the whole
  raw text (header and licence included), windows of 100 sentences joined into context and
  continuation;
- the pipeline with 1 and with 2 processes: clean, split, chunk, split by book, save_to_disk,
  parquet and card (`build_chunk_dataset`), a fresh output folder and Punkt memory each time.

Targets: the pipeline with one process >= 2x the baseline; two processes >= 1.7x one. The
CPU seconds (workers included) show how much of a shortfall is the machine being busy: two
processes cannot run 1.7x faster while something else holds one of two cores.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nltk

from storyloom_pipeline.books.gutenberg import decode_text
from storyloom_pipeline.chunk_dataset import BuildSettings, book_files, build_chunk_dataset
from storyloom_pipeline.sentences import SentenceSplitter, ensure_punkt_data

ROUNDS = 5


def seed_style_chunks(paths: list[Path]) -> list[dict[str, str]]:
    rows = []
    for path in paths:
        sentences = nltk.sent_tokenize(decode_text(path.read_bytes()))
        for first in range(0, len(sentences) - 99, 100):
            rows.append(
                {
                    "context": " ".join(sentences[first : first + 80]),
                    "continuation": " ".join(sentences[first + 80 : first + 100]),
                }
            )
    return rows


def test_corpus_to_chunk_dataset_throughput(gutenberg_dir: Path, tmp_path: Path) -> None:
    punkt_root = ensure_punkt_data(tmp_path / "punkt")
    nltk.sent_tokenize("Warm. Up.")  # nltk loads its tokenizer once; not part of the run
    sources = book_files(gutenberg_dir)
    megabytes = sum(path.stat().st_size for path in sources) / 1e6

    def pipeline(num_proc: int) -> Callable[[SentenceSplitter], object]:
        def run(splitter: SentenceSplitter) -> object:
            with tempfile.TemporaryDirectory(dir=tmp_path) as out:
                return build_chunk_dataset(
                    sources, Path(out), BuildSettings(), num_proc=num_proc, splitter=splitter
                )

        return run

    runs: dict[str, Callable[[SentenceSplitter], object]] = {
        "baseline (seed-style, 1 proc)": lambda _: seed_style_chunks(sources),
        "pipeline, 1 process": pipeline(1),
        "pipeline, 2 processes": pipeline(2),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in runs}
    load = os.getloadavg()[0]
    for _ in range(ROUNDS):
        for name, run in runs.items():
            splitter = SentenceSplitter(punkt_root)  # cold: nothing remembered from a run before
            cpu_before = _cpu_seconds()
            started = time.perf_counter()
            run(splitter)
            seconds[name].append(time.perf_counter() - started)
            cpu_seconds[name].append(_cpu_seconds() - cpu_before)

    best = {name: megabytes / min(times) for name, times in seconds.items()}
    base, one, two = best.values()
    print(f"\nP3 corpus -> chunk dataset: {len(sources)} books, {megabytes:.2f} MB raw")
    print(f"  (load average {load:.2f} on {os.cpu_count()} CPUs when it started)")
    for name, times in seconds.items():
        print(
            f"  {name:30s} best {best[name]:5.2f} MB/s  "
            f"(median {megabytes / statistics.median(times):5.2f} MB/s, "
            f"runs {', '.join(f'{t:.2f}' for t in times)} s, "
            f"CPU {min(cpu_seconds[name]):.2f} s at best)"
        )
    print(f"  1 process vs baseline: {one / base:.2f}x (target >= 2x)")
    print(f"  2 processes vs 1:      {two / one:.2f}x (target >= 1.7x)")


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
