"""Export and verify on the real SmolLM2-135M-Instruct (llama architecture) with a LoRA made by
peft: the adapter GGUF, the merged model in F32/F16/Q8_0 (gguf-py) and Q4_K_M (llama.cpp), all
run in llama.cpp and compared with transformers on the same token ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from storyloom import prompting  # noqa: E402
from storyloom_pipeline.base_model import SMOLLM2_REF, resolve  # noqa: E402
from storyloom_pipeline.cli import main  # noqa: E402
from storyloom_pipeline.export import adapter as adapter_gguf  # noqa: E402
from storyloom_pipeline.export.engine import Engine  # noqa: E402
from storyloom_pipeline.export.metadata import ExportInfo  # noqa: E402
from storyloom_pipeline.export.model_gguf import export_merged, source_tensors  # noqa: E402
from storyloom_pipeline.export.reader import read_gguf  # noqa: E402
from storyloom_pipeline.export.verify import Reference, verify_gguf  # noqa: E402
from storyloom_pipeline.recipe import load_recipe  # noqa: E402

pytestmark = pytest.mark.slow

RECIPE = Path(__file__).parents[2] / "pipeline" / "recipes" / "smoke-smollm2-cpu.yaml"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
THREADS = 1  # see test_engine.py


@dataclass(frozen=True)
class Run:
    adapter_dir: Path  # peft
    merged_dir: Path  # transformers, LoRA merged
    gguf: dict[str, Path]  # "adapter", "base-F16" and the merged types
    merged: Reference
    base: Reference


@pytest.fixture(scope="module")
def run(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("smollm2-export")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS)
    model = get_peft_model(base, lora)
    with torch.no_grad():  # peft starts B at zero, which would leave the model unchanged
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.05)
    model.save_pretrained(root / "adapter")
    merged = model.merge_and_unload()
    merged.save_pretrained(root / "merged")
    tokenizer.save_pretrained(root / "merged")

    out = root / "gguf"
    argv = ["export", "--recipe", str(RECIPE), "--adapter", str(root / "adapter")]
    argv += ["--merged", str(root / "merged"), "--out", str(out), "--types", "f32,f16,q8_0,q4_k_m"]
    assert main(argv) == 0
    name = load_recipe(RECIPE).name
    files = {kind: out / f"{name}-{kind}.gguf" for kind in ("F32", "F16", "Q8_0", "Q4_K_M")}
    files["adapter"] = out / f"{name}-adapter.gguf"
    info = ExportInfo(name="smollm2-base", tokenizer_pre="smollm")
    files["base-F16"] = export_merged(smollm2_dir, out, info, ["f16"])["f16"]
    original = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    return Run(
        adapter_dir=root / "adapter",
        merged_dir=root / "merged",
        gguf=files,
        merged=Reference(merged, tokenizer),
        base=Reference(original, tokenizer),
    )


def test_merged_f32_is_exact_and_matches_transformers(run: Run) -> None:
    report = verify_gguf(
        run.gguf["F32"],
        run.merged,
        expected_tensors=source_tensors(run.merged_dir),
        n_threads=THREADS,
    )
    print(report.summary())
    assert report.passed, report.summary()
    assert report.tensors is not None and report.tensors.exact and report.tensors.count == 272
    assert report.comparison.last_max_abs_diff <= 1e-3
    assert report.comparison.greedy_agreeing == 16


def test_merged_f16_within_its_bound(run: Run) -> None:
    report = verify_gguf(run.gguf["F16"], run.merged, n_threads=THREADS)
    print(report.summary())
    assert report.passed, report.summary()
    assert report.file_type == "F16" and report.logit_bound == 0.1


@pytest.mark.parametrize("kind", ["Q8_0", "Q4_K_M"])
def test_quantized_files_load_and_follow_the_model(run: Run, kind: str) -> None:
    report = verify_gguf(run.gguf[kind], run.merged, n_threads=THREADS)
    print(report.summary())
    assert report.file_type == kind and report.logit_bound is None
    assert not report.tokenizer_mismatches
    assert report.comparison.top1_agreement >= 0.8  # measured: Q8_0 0.97, Q4_K_M 0.90


def test_adapter_applied_at_load_gives_the_merged_model(run: Run) -> None:
    report = verify_gguf(
        run.gguf["base-F16"],
        run.merged,
        adapter=run.gguf["adapter"],
        expected_tensors=adapter_gguf.source_tensors(run.adapter_dir),
        n_threads=THREADS,
    )
    print(report.summary())
    assert report.passed, report.summary()
    assert report.tensors is not None and report.tensors.count == 30 * 7 * 2
    assert report.tensors.exact  # F32 adapter tensors, B of q/k permuted like the base
    # The adapter matters: without it, llama.cpp is far from the merged model.
    ids = run.merged.tokenize(prompting.render_chatml(prompting.continuation_messages("Snow.")))
    with Engine(run.gguf["base-F16"], n_threads=THREADS) as engine:
        without = engine.logits(ids)[-1]
    merged_logits = run.merged.run(ids, 0).logits
    base_logits = run.base.run(ids, 0).logits
    assert np.abs(without - merged_logits[-1]).max() > 20 * report.comparison.last_max_abs_diff
    assert np.abs(without - base_logits[-1]).max() < 0.1


def test_metadata_reads_back(run: Run) -> None:
    recipe = load_recipe(RECIPE)
    written = read_gguf(run.gguf["F16"]).metadata
    assert written["general.type"] == "model"
    assert written["general.architecture"] == "llama"
    assert written["general.name"] == recipe.name
    assert written["general.license"] == recipe.license
    assert written["general.base_model.count"] == 1
    assert written["general.base_model.0.name"] == SMOLLM2_REF
    assert written["storyloom.prompt_format_version"] == prompting.PROMPT_FORMAT_VERSION
    assert written["general.file_type"] == 1
    assert written["llama.rope.freq_base"] == 100000.0
    assert written["tokenizer.ggml.pre"] == "smollm"
    assert "<|im_start|>" in written["tokenizer.chat_template"]
    # The tokenizer metadata equals what SmolLM2's published GGUF carries.
    source = resolve(SMOLLM2_REF)
    published = read_gguf(Path(source.location) / str(source.gguf_file)).metadata
    for key in (
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token",
        "llama.block_count",
        "llama.attention.head_count_kv",
    ):
        assert written[key] == published[key], key

    adapter = read_gguf(run.gguf["adapter"])
    assert adapter.metadata["general.type"] == "adapter"
    assert adapter.metadata["general.architecture"] == "llama"
    assert adapter.metadata["adapter.type"] == "lora"
    assert adapter.metadata["adapter.lora.alpha"] == 16.0
    a, b = (
        adapter.tensors["blk.0.attn_q.weight.lora_a"],
        adapter.tensors["blk.0.attn_q.weight.lora_b"],
    )
    assert a.shape == (8, 576) and b.shape == (576, 8)


def test_verify_command(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    options = ["--reference", str(run.merged_dir), "--threads", str(THREADS), "--tokens", "4"]
    assert main(["verify-gguf", str(run.gguf["F16"]), *options, "--no-tensors"]) == 0
    out = capsys.readouterr().out
    assert "greedy: 4/4 tokens equal" in out and "PROBLEM" not in out
    # Verifying the base model against the merged one must fail, and say why.
    assert main(["verify-gguf", str(run.gguf["base-F16"]), *options, "--no-tensors"]) == 1
    assert "PROBLEM logits: last-token max |Δ|" in capsys.readouterr().out
