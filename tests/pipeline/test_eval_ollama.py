"""`storyloom-pipeline eval` with Ollama models and an Ollama judge, against the fake Ollama
server and the real `ollama` client: scripted replies with known format, pacing and echo;
likelihood reported as not available; dead servers and missing models explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import shown

from storyloom_pipeline.cli import main

from fake_ollama import FakeOllama, PromptInfo, Script

MODEL, BASELINE, JUDGE = "cra-test", "smol", "judge"
ANSWER = "The door opened. A man came in. He shook the rain off his coat. Nobody spoke."


def story_end(info: PromptInfo) -> str:
    context = info.prompt.split("### Context:\n", 1)[1].split("<|im_end|>", 1)[0]
    return " ".join(context.split()[-12:])


def model_reply(info: PromptInfo) -> Script:
    return Script(f"<reasoning>They wait for news.</reasoning><answer>{ANSWER}</answer>")


def baseline_reply(info: PromptInfo) -> Script:
    # untagged prose that opens by repeating the story's last twelve words
    return Script(f"{story_end(info)} Then it was morning.")


def judge_reply(info: PromptInfo) -> Script:
    first, _ = shown(info.messages[-1]["content"])
    return Script(f"A moves the story.\nVerdict: {'A' if first == ANSWER else 'B'}")


@pytest.fixture
def ollama_models(fake_ollama: FakeOllama) -> FakeOllama:
    for name, script in ((MODEL, model_reply), (BASELINE, baseline_reply), (JUDGE, judge_reply)):
        if name != BASELINE:
            fake_ollama.add_model(name)
        fake_ollama.set_script(script, model=name)
    return fake_ollama


def argv(chunks: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval", "--chunks", str(chunks), "--out", str(out), "--sample", "3",
        "--model", f"ollama:{MODEL}", "--baseline", f"ollama:{BASELINE}", *extra,
    ]  # fmt: skip


def test_ollama_models_are_measured_and_judged(
    ollama_models: FakeOllama, small_chunks_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    judge = ["--judge-provider", "ollama", "--judge-model", JUDGE, "--sample", "12"]
    assert main(argv(small_chunks_dir, out, *judge)) == 0
    generate = ollama_models.requests_to("/api/generate")
    assert len(generate) == 24
    body = json.loads(generate[0].body)
    assert body["raw"] is True and body["prompt"].startswith("<|im_start|>system\n")
    assert body["options"]["num_ctx"] == 8192 and body["options"]["temperature"] == 0
    assert body["options"]["stop"] == ["<|im_end|>", "<|endoftext|>", "<|im_start|>"]
    metrics = json.loads((out / "metrics.json").read_text())
    model, baseline = metrics["metrics"]["model"], metrics["metrics"]["baseline"]
    assert model["likelihood"] == {"direct": None, "after_reasoning": None}
    assert metrics["comparison"]["nll_direct_delta"] is None
    assert model["format"]["well_formed"]["value"] == 1.0
    assert baseline["format"]["malformations"]["no_tags"] == 12
    assert model["pacing"]["on_pace"]["value"] == 1.0  # 4 sentences, as the chunks' own
    assert baseline["echo"]["rate"]["value"] == 1.0 and model["echo"]["rate"]["value"] == 0.0
    judge_result = metrics["comparison"]["judge"]
    assert (judge_result["win"], judge_result["loss"], judge_result["unjudged"]) == (12, 0, 0)
    assert metrics["decision"] == {"findings": {"judge": "better"}, "keep": True, "why": None}
    assert metrics["models"]["model"]["fingerprint"].startswith("ollama:")
    report = (out / "report.md").read_text()
    assert "| NLL/token after `<answer>` (perplexity) | n/a | n/a | – |" in report
    assert "**Keep** the model under test (judge: better)." in report
    assert "likelihood.png" not in report


def test_a_model_changed_on_the_server_is_measured_again(
    ollama_models: FakeOllama, small_chunks_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    assert main(argv(small_chunks_dir, out, "--sample", "1")) == 0
    assert main(argv(small_chunks_dir, out, "--sample", "1")) == 0
    assert len(ollama_models.requests_to("/api/generate")) == 2  # the rerun was all journal
    ollama_models.add_model(MODEL, family="qwen2")  # re-created: a new digest
    assert main(argv(small_chunks_dir, out, "--sample", "1")) == 0
    assert len(ollama_models.requests_to("/api/generate")) == 3


def test_a_missing_model_and_a_dead_server_are_explained(
    fake_ollama: FakeOllama, small_chunks_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    with pytest.raises(SystemExit, match=f"has no model '{MODEL}'; `ollama pull {MODEL}`"):
        main(argv(small_chunks_dir, tmp_path / "a"))
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    with pytest.raises(SystemExit, match=r"cannot reach Ollama at .*is `ollama serve` running"):
        main(argv(small_chunks_dir, tmp_path / "b"))
