"""P5: counting sentences must be negligible next to a model's token rate.

- Streaming: a real answer-sized stretch of a Gutenberg book (about 20 sentences of dialogue
  and narration) fed to the length limiter one 4-character token at a time, as Ollama streams;
  per-token cost, mean and p99. Target: well under 100 µs a token (a fast model sends one every
  5 ms).
- Whole text: every book of the corpus through `sentence_spans`, against the pipeline's own
  splitter on the same text, in MB/s.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from storyloom.core.length import Length, LengthLimiter
from storyloom.core.sentences import sentence_spans
from storyloom_pipeline.books import load_book
from storyloom_pipeline.sentences import SentenceSplitter


def test_length_limiter_cost_per_token(gutenberg_dir: Path) -> None:
    text = load_book(gutenberg_dir / "1342.txt").text
    start = text.index("“My dear Mr. Bennet,”")
    answer = text[start : start + 2500]
    chunks = [answer[i : i + 4] for i in range(0, len(answer), 4)]
    per_token: list[float] = []
    runs = 50
    for _ in range(runs):
        limiter = LengthLimiter(Length.SCENE)
        for chunk in chunks:
            t0 = time.perf_counter()
            limiter.feed(chunk)
            per_token.append(time.perf_counter() - t0)
        limiter.close()
    p99 = statistics.quantiles(per_token, n=100)[98]
    print(
        f"\nP5 length limit: {len(chunks)} tokens x {runs} runs; "
        f"mean {statistics.fmean(per_token) * 1e6:.1f} µs/token, p99 {p99 * 1e6:.1f} µs/token"
    )


def test_whole_corpus_throughput(gutenberg_dir: Path, tmp_path: Path) -> None:
    books = [load_book(path).text for path in sorted(gutenberg_dir.glob("*.txt"))]
    megabytes = sum(len(book.encode("utf-8")) for book in books) / 1e6
    pipeline = SentenceSplitter(tmp_path)
    timings = {}
    for name, split in (("app", sentence_spans), ("pipeline", pipeline.spans)):
        t0 = time.perf_counter()
        for book in books:
            split(book)
        timings[name] = time.perf_counter() - t0
    print(
        f"\nP5 whole text: {megabytes:.1f} MB; app {megabytes / timings['app']:.1f} MB/s, "
        f"pipeline (nltk, memoized) {megabytes / timings['pipeline']:.1f} MB/s"
    )
