"""The GGUF export's small parts, without a model: rope permutation, type names, the reader,
adapter and tokenizer refusals, the commands' argument errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from storyloom_pipeline.cli import main  # noqa: E402
from storyloom_pipeline.export.adapter import AdapterError, export_adapter  # noqa: E402
from storyloom_pipeline.export.hf_model import (  # noqa: E402
    HfModel,
    ModelFolderError,
    permute_for_llama_rope,
)
from storyloom_pipeline.export.metadata import ExportInfo  # noqa: E402
from storyloom_pipeline.export.reader import GgufFormatError, read_gguf  # noqa: E402
from storyloom_pipeline.export.types import gguf_type  # noqa: E402
from storyloom_pipeline.export.vocab import VocabError, read_vocab  # noqa: E402

INFO = ExportInfo(name="unit", tokenizer_pre="qwen2")


def test_rope_permutation_interleaves_the_two_halves_of_each_head() -> None:
    # Two heads of four rows: HF rotates row i with row i + 2 (the halves), llama.cpp rotates
    # adjacent rows, so each head's rows [a0 a1 b0 b1] become [a0 b0 a1 b1].
    rows = np.arange(8, dtype=np.float32)
    assert permute_for_llama_rope(rows, 2).tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    matrix = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    permuted = permute_for_llama_rope(matrix, 2)
    assert permuted[:, 0].tolist() == (permute_for_llama_rope(rows, 2) * 3).tolist()
    assert sorted(permuted.ravel().tolist()) == matrix.ravel().tolist()


def test_type_names() -> None:
    assert gguf_type("F16").matrix == gguf.GGMLQuantizationType.F16
    assert gguf_type("q8_0").file_type == gguf.LlamaFileType.MOSTLY_Q8_0
    k_quant = gguf_type("Q4_K_M")
    assert k_quant.matrix is None  # llama.cpp's quantizer only
    assert k_quant.file_type == gguf.LlamaFileType.MOSTLY_Q4_K_M
    with pytest.raises(ValueError, match=r"unknown GGUF type 'q3_x'.*q4_k_m"):
        gguf_type("q3_x")


def _write(path: Path, **strings: str) -> Path:
    writer = gguf.GGUFWriter(path, "llama")
    for key, value in strings.items():
        writer.add_string(key, value)
    writer.add_token_list(["a", "b", "ü"])
    writer.add_token_types([1, 3, 1])
    writer.add_tensor("w", np.arange(64, dtype=np.float32).reshape(2, 32))
    writer.add_tensor("q", np.ones((2, 32), np.float32) * 3, raw_dtype=None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_reader_reads_what_gguf_py_wrote(tmp_path: Path) -> None:
    written = read_gguf(_write(tmp_path / "t.gguf", **{"general.name": "naïve"}))
    assert written.metadata["general.architecture"] == "llama"
    assert written.metadata["general.name"] == "naïve"
    assert written.metadata["tokenizer.ggml.tokens"] == ["a", "b", "ü"]
    assert written.metadata["tokenizer.ggml.token_type"] == [1, 3, 1]
    assert written.tensors["w"].shape == (2, 32)
    assert written.tensors["w"].array().tolist() == np.arange(64).reshape(2, 32).tolist()
    assert written.tensors["q"].array().tolist() == [[3.0] * 32] * 2


def test_reader_refuses_damaged_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.gguf")
    (tmp_path / "cut.gguf").write_bytes(path.read_bytes()[:-100])
    with pytest.raises(GgufFormatError, match="runs past the end"):
        read_gguf(tmp_path / "cut.gguf")
    (tmp_path / "head.gguf").write_bytes(path.read_bytes()[:40])
    with pytest.raises(GgufFormatError, match="ends inside its header"):
        read_gguf(tmp_path / "head.gguf")
    (tmp_path / "not.gguf").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(GgufFormatError, match="not a GGUF file"):
        read_gguf(tmp_path / "not.gguf")


def _model_folder(path: Path, **config: object) -> Path:
    path.mkdir()
    base = {
        "model_type": "llama",
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "hidden_size": 8,
        "vocab_size": 4,
    }
    (path / "config.json").write_text(json.dumps(base | config))
    return path


def test_unsupported_models_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="model_type 'gemma' is not supported"):
        HfModel(_model_folder(tmp_path / "gemma", model_type="gemma"))
    with pytest.raises(ModelFolderError, match="cannot read the model config"):
        HfModel(tmp_path)
    model = HfModel(_model_folder(tmp_path / "llama"))
    with pytest.raises(ModelFolderError, match=r"no model\.safetensors"):
        model.weight_files()
    with pytest.raises(
        ModelFolderError, match=r"no GGUF name for the tensor 'model\.vision\.proj'"
    ):
        model.gguf_name("model.vision.proj")
    assert model.gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq") is None


def test_only_byte_level_bpe_tokenizers(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "Unigram"}}))
    with pytest.raises(VocabError, match=r"only byte-level BPE.*'Unigram'"):
        read_vocab(tmp_path, 4)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"use_dora": True}, "use_dora"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"rank_pattern": {"q_proj": 4}}, "rank_pattern"),
        ({"bias": "all"}, "bias"),
    ],
)
def test_adapters_llama_cpp_cannot_apply_are_refused(
    tmp_path: Path, setting: dict[str, object], named: str
) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, **setting}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match=f"plain LoRA only; this adapter sets {named}"):
        export_adapter(adapter, tmp_path / "a.gguf", INFO)
    assert not (tmp_path / "a.gguf").exists()


def test_adapter_needs_its_base_config(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    config = {"r": 4, "lora_alpha": 8, "base_model_name_or_path": "Qwen/Qwen2.5-7B-Instruct"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match=r"config of the base model .* with --base"):
        export_adapter(adapter, tmp_path / "a.gguf", INFO)  # offline, not in the HF cache


def test_export_info_needs_a_name_and_a_pre_tokenizer() -> None:
    with pytest.raises(ValueError, match="model name"):
        ExportInfo(name=" ", tokenizer_pre="qwen2")
    with pytest.raises(ValueError, match="pre-tokenizer"):
        ExportInfo(name="m", tokenizer_pre="")


def test_export_command_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nothing to export"):
        main(["export", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="give --recipe or --name/--tokenizer-pre"):
        main(["export", "--merged", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"no model\.safetensors"):
        main(["export", "--merged", str(_model_folder(tmp_path / "m")), "--out", str(tmp_path),
              "--name", "m", "--tokenizer-pre", "smollm"])  # fmt: skip


def test_rslora_scale_is_carried_in_alpha() -> None:
    from storyloom_pipeline.export.adapter import _llama_cpp_alpha

    # llama.cpp applies alpha / r; peft's rsLoRA applies lora_alpha / sqrt(r).
    assert _llama_cpp_alpha({"lora_alpha": 32, "r": 16}) == 32.0
    assert _llama_cpp_alpha({"lora_alpha": 32, "r": 16, "use_rslora": True}) / 16 == 32 / 4


def test_non_finite_logits_and_a_clear_greedy_difference_fail_verification() -> None:
    """NaN compares below every bound, so it is a problem of its own; a greedy difference the
    reference decided by more than its rounding is one too, a near-tie within it is not."""
    from storyloom_pipeline.export.verify import Comparison, VerifyReport

    def report(max_diff: float, margin: float | None, dtype: str) -> VerifyReport:
        comparison = Comparison(
            tokens=8,
            max_abs_diff=max_diff,
            last_max_abs_diff=max_diff,
            top1_agreement=1.0,
            greedy_engine=[1, 2, 9],
            greedy_reference=[1, 2, 3],
            greedy_margin=margin,
        )
        return VerifyReport(Path("m.gguf"), None, "F16", {}, None, [], comparison, 0.1, dtype)

    assert report(float("nan"), 0.0, "bfloat16").problems[0].startswith("logits: not finite")
    assert report(0.01, 0.5, "bfloat16").problems == []  # a near-tie for bfloat16 (1.5)
    assert report(0.01, 0.5, "float32").problems == [
        "greedy: 2 of 3 tokens agree (by a margin of 0.5)"
    ]
