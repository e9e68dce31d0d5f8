"""The app counts sentences by the pipeline's rules: measured on the real books.

The app cannot load nltk, so `storyloom.core.sentences` re-implements Punkt with the parameters
the pipeline uses (exported to the app by `storyloom_pipeline.app_punkt`). Here both splitters
cut every book of the Gutenberg corpus and the sentence spans are compared.

Threshold: at least 99.9 % of the pipeline's sentences must come out identical (same start
and end), and at least 99.9 % of the app's. Measured when written: 82,606 of 82,606 both ways
(100.00 %) on the 17 books; the margin is for a future nltk that changes a corner of Punkt.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from storyloom.core import sentences as app
from storyloom_pipeline.app_punkt import APP_FILE, app_parameters
from storyloom_pipeline.books import load_book
from storyloom_pipeline.sentences import SentenceSplitter

AGREEMENT_THRESHOLD = 0.999


@pytest.fixture(scope="module")
def books(gutenberg_dir: Path) -> dict[str, str]:
    paths = sorted(gutenberg_dir.glob("*.txt"))
    assert len(paths) >= 10
    return {path.name: load_book(path).text for path in paths}


@pytest.fixture(scope="module")
def splitter(tmp_path_factory: pytest.TempPathFactory) -> SentenceSplitter:
    return SentenceSplitter(tmp_path_factory.mktemp("punkt"))


def test_the_app_ships_the_pipelines_punkt_parameters() -> None:
    shipped = json.loads(gzip.decompress(APP_FILE.read_bytes()))
    assert shipped == app_parameters(), (
        "desktop/storyloom/core/punkt_english.json.gz is stale: "
        "run `python -m storyloom_pipeline.app_punkt`"
    )


def test_sentence_agreement_with_the_pipeline_on_the_corpus(
    books: dict[str, str], splitter: SentenceSplitter
) -> None:
    pipeline_total = app_total = same = 0
    worst: list[str] = []
    for name, text in books.items():
        expected, got = set(splitter.spans(text)), set(app.sentence_spans(text))
        pipeline_total += len(expected)
        app_total += len(got)
        same += len(expected & got)
        worst += [f"{name}: {text[s:e]!r}" for s, e in sorted(expected ^ got)[:3]]
    recall, precision = same / pipeline_total, same / app_total
    print(
        f"\nsentence agreement: {same:,} identical of {pipeline_total:,} (pipeline) "
        f"and {app_total:,} (app): {recall:.4%} / {precision:.4%}"
    )
    assert recall >= AGREEMENT_THRESHOLD and precision >= AGREEMENT_THRESHOLD, worst[:10]


def test_streamed_answers_split_as_whole_texts_on_real_prose(books: dict[str, str]) -> None:
    """Answer-sized stretches of every book, fed in token-sized pieces as Ollama streams them,
    give exactly the sentences of the whole stretch."""
    rng = random.Random(1234)
    for name, text in books.items():
        for _ in range(20):
            start = rng.randrange(max(1, len(text) - 6000))
            stretch = text[start : start + rng.randrange(200, 6000)]
            scanner = app.SentenceScanner()
            found = []
            position = 0
            while position < len(stretch):
                size = rng.choice((1, 2, 3, 4, 5, 7, 12))
                found += scanner.feed(stretch[position : position + size])
                position += size
            found += scanner.close()
            spans = [(s.start, s.end) for s in found]
            assert spans == app.sentence_spans(stretch), f"{name} at {start}"
