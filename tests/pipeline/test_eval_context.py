"""Chunks too long for `--num-ctx`: skipped for that model and counted in the report, never
the end of the evaluation (llama.cpp refuses them) nor scored from a cut prompt (Ollama cuts
them silently, transcript 13). Both models are then compared on the chunks both answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyloom_pipeline.cli import main
from storyloom_pipeline.evaluation.engine_ollama import cut_prompt_length
from storyloom_pipeline.evaluation.heldout import select_held_out
from storyloom_pipeline.evaluation.replies import chunk_prompt

from fake_ollama import FakeOllama, Script, estimate_tokens

REPLY = "<reasoning>They wait.</reasoning><answer>The door opened. Nobody spoke.</answer>"


def test_ollamas_cut_length_is_the_recorded_one() -> None:
    assert cut_prompt_length(256) == 130  # 719 tokens at num_ctx 256 (13-truncation)
    assert cut_prompt_length(256, bos=True) == 131  # a BOS is kept on top of num_keep


def test_a_prompt_ollama_cut_is_skipped_not_scored(
    fake_ollama: FakeOllama, small_chunks_dir: Path, tmp_path: Path
) -> None:
    chunks = select_held_out(small_chunks_dir, sample=3).chunks
    long_one = chunks[1]
    # this chunk's prompt counts 2,000 tokens on the server, the others what they are
    marker = chunk_prompt(long_one)[-200:]
    fake_ollama.token_counter = lambda text: 2000 if marker in text else estimate_tokens(text)
    for name in ("cra-test", "judge"):
        fake_ollama.add_model(name)
    fake_ollama.set_script(lambda info: Script(REPLY), model="cra-test")
    fake_ollama.set_script(lambda info: Script(REPLY), model="smol")
    fake_ollama.set_script(lambda info: Script("Same.\nVerdict: tie"), model="judge")
    out = tmp_path / "eval"
    argv = ["eval", "--chunks", str(small_chunks_dir), "--out", str(out), "--sample", "3"]
    argv += ["--model", "ollama:cra-test", "--baseline", "ollama:smol", "--num-ctx", "512"]
    argv += ["--judge-provider", "ollama", "--judge-model", "judge"]
    assert main(argv) == 0

    cut = [g for g in fake_ollama.generations if g.truncated]
    assert [(g.prompt_eval_count, g.num_ctx) for g in cut] == [(258, 512), (258, 512)]
    generate = fake_ollama.requests_to("/api/generate")
    assert json.loads(generate[0].body)["options"]["num_keep"] == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(s["chunk_id"], s["role"], s["reason"]) for s in metrics["skipped"]] == [
        (long_one.chunk_id, "model", "longer than --num-ctx 512"),
        (long_one.chunk_id, "baseline", "longer than --num-ctx 512"),
    ]
    assert "Ollama cut the prompt to 258 tokens" in metrics["skipped"][0]["detail"]
    assert [row["chunk_id"] for row in metrics["per_chunk"]] == [
        chunks[0].chunk_id,
        chunks[2].chunk_id,
    ]
    assert metrics["metrics"]["model"]["chunks"] == 2
    judge = metrics["comparison"]["judge"]
    assert (judge["tie"], judge["unjudged"]) == (2, 0)  # the skipped chunk was never judged
    assert len(fake_ollama.requests_to("/api/chat")) == 4
    report = (out / "report.md").read_text()
    assert "- model: 1 chunk skipped: longer than --num-ctx 512" in report
    assert "- baseline: 1 chunk skipped: longer than --num-ctx 512" in report
    assert "1 of 3 chunks are left out of every figure" in report


@pytest.fixture(scope="module")
def tiny_gguf(qwen2_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 with the real Qwen2 tokenizer, as an F32 GGUF."""
    pytest.importorskip("llama_cpp")
    from qwen2_tiny import tiny_qwen2_model

    from storyloom_pipeline.export.metadata import ExportInfo
    from storyloom_pipeline.export.model_gguf import export_merged

    folder = tmp_path_factory.mktemp("tiny") / "hf"
    tiny_qwen2_model().save_pretrained(folder)
    qwen2_tokenizer.save_pretrained(folder)
    info = ExportInfo(name="tiny", tokenizer_pre="qwen2")
    return export_merged(folder, folder.parent, info, ["f32"])["f32"]


def test_llama_cpp_skips_a_chunk_the_window_cannot_hold(
    tiny_gguf: Path, qwen2_tokenizer, small_chunks_dir: Path, tmp_path: Path
) -> None:
    chunks = select_held_out(small_chunks_dir, sample=3).chunks
    lengths = [len(qwen2_tokenizer(chunk_prompt(c))["input_ids"]) for c in chunks]
    assert lengths == [165, 233, 212]  # so 290 new tokens fit 512 after two of them only
    out = tmp_path / "eval"
    argv = ["eval", "--chunks", str(small_chunks_dir), "--out", str(out), "--sample", "3"]
    argv += ["--model", str(tiny_gguf), "--baseline", str(tiny_gguf), "--num-ctx", "512"]
    argv += ["--max-new-tokens", "290", "--threads", "1"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(s["chunk_id"], s["role"]) for s in metrics["skipped"]] == [
        (chunks[1].chunk_id, "model"),
        (chunks[1].chunk_id, "baseline"),
    ]
    assert metrics["skipped"][0]["detail"] == (
        "the prompt (233 tokens) and --max-new-tokens 290 do not fit --num-ctx 512; "
        "a larger --num-ctx would hold it"
    )
    assert metrics["metrics"]["model"]["likelihood"]["direct"]["tokens"] > 0
    assert [row["chunk_id"] for row in metrics["per_chunk"]] == [
        chunks[0].chunk_id,
        chunks[2].chunk_id,
    ]
    assert "- model: 1 chunk skipped: longer than --num-ctx 512" in (out / "report.md").read_text()


def test_a_chunk_one_model_skipped_is_left_out_for_both(
    small_chunks_dir: Path, tmp_path: Path
) -> None:
    from storyloom_pipeline.evaluation.engine import GenerationSettings
    from storyloom_pipeline.evaluation.models import OLLAMA, ModelSpec
    from storyloom_pipeline.evaluation.report import build_report, render_markdown
    from storyloom_pipeline.evaluation.run import EngineOptions, Evaluation, Outcome
    from storyloom_pipeline.evaluation.summary import summarize

    held_out = select_held_out(small_chunks_dir, sample=2)
    first, second = (chunk.chunk_id for chunk in held_out.chunks)
    answered = {
        "answer": "He left.",
        "malformations": [],
        "finish_reason": "stop",
        "generated_tokens": 3,
        "generate_seconds": 1.0,
    }
    too_long = {"skipped": "longer than --num-ctx 512", "detail": "the prompt (600 tokens) …"}
    outcome = Outcome(
        replies={
            "model": {first: answered, second: answered},
            "baseline": {first: too_long, second: answered},
        },
        verdicts={},
        fingerprints={"model": "a", "baseline": "b"},
        unjudged=[],
    )
    evaluation = Evaluation(
        out=tmp_path,
        held_out=held_out,
        models={"model": ModelSpec(OLLAMA, "a"), "baseline": ModelSpec(OLLAMA, "b")},
        generation=GenerationSettings(),
        engines=EngineOptions(),
    )
    metrics = summarize(evaluation, outcome)
    assert metrics["skipped"] == [
        {
            "chunk_id": first,
            "role": "baseline",
            "reason": "longer than --num-ctx 512",
            "detail": "the prompt (600 tokens) …",
        }
    ]
    # the model answered both, but is measured on the one chunk the baseline answered too
    assert [row["chunk_id"] for row in metrics["per_chunk"]] == [second]
    assert metrics["metrics"]["model"]["chunks"] == metrics["metrics"]["baseline"]["chunks"] == 1
    report = render_markdown(build_report(metrics))
    assert "- baseline: 1 chunk skipped: longer than --num-ctx 512" in report
    assert "- model:" not in report
    assert f"- {first} (baseline): the prompt (600 tokens) …" in report
