"""The whole model-making method on a real model, on this CPU, through the commands a person runs:

    train --merge -> export (adapter GGUF, merged F16 + Q8_0) -> verify in llama.cpp
    -> modelfile -> publish (to the Ollama test server, pushed)

The recipe is the committed smoke recipe; only its base model (the session's converted SmolLM2,
to skip a 40 s GGUF load) and its data (real books, scripted reasoning) are swapped in. Each
stage's seconds and the verify figures are printed (`pytest -s`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("llama_cpp")

from storyloom import prompting
from storyloom_pipeline import cli
from storyloom_pipeline.export.metadata import ExportInfo
from storyloom_pipeline.export.model_gguf import export_merged
from storyloom_pipeline.export.verify import Reference, verify_gguf
from storyloom_pipeline.modelfile import CHATML_TEMPLATE, parse
from storyloom_pipeline.recipe import load_recipe, save_recipe
from storyloom_pipeline.train.run_folder import RunFolder

from fake_ollama import FakeOllama

pytestmark = pytest.mark.slow

THREADS = 1  # two llama.cpp threads were up to 8x slower on this shared 2-core machine
MODEL_NAME = "storyloom/cra-smoke-smollm2:e2e"


def _timed(stage: str, seconds: dict[str, float], argv: list[str]) -> None:
    start = time.perf_counter()
    assert cli.main(argv) == 0, f"{stage} failed"
    seconds[stage] = time.perf_counter() - start


def test_books_to_a_published_model(
    repo_root: Path,
    smollm2_dir: Path,
    chat_dataset: Path,
    fake_ollama: FakeOllama,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # runs/<name>/ and modelfiles/ land here, as in a checkout
    committed = load_recipe(repo_root / "pipeline" / "recipes" / "smoke-smollm2-cpu.yaml")
    recipe = dataclasses.replace(
        committed,
        base_model=str(smollm2_dir),
        data=dataclasses.replace(committed.data, dataset=str(chat_dataset)),
    )
    recipe_file = tmp_path / "smoke.yaml"
    save_recipe(recipe, recipe_file)
    run = RunFolder.for_recipe(recipe.name)
    seconds: dict[str, float] = {}

    _timed("train+merge", seconds, ["train", "--recipe", str(recipe_file), "--merge"])
    result = json.loads(run.result_file.read_text())
    assert result["global_step"] == recipe.training.max_steps
    assert (run.adapter / "adapter_model.safetensors").is_file()
    assert (run.merged / "config.json").is_file()

    _timed("export", seconds, ["export", "--recipe", str(recipe_file)])
    files = {path.name for path in run.gguf.iterdir()}
    name = recipe.name
    assert files == {f"{name}-adapter.gguf", f"{name}-F16.gguf", f"{name}-Q8_0.gguf"}

    # llama.cpp against transformers on the same token ids: the merged model in F16 and Q8_0,
    # and the adapter GGUF applied to the base model at load time against the merged model.
    merged = Reference.load(run.merged)
    start = time.perf_counter()
    f16 = verify_gguf(run.gguf / f"{name}-F16.gguf", merged, n_threads=THREADS)
    q8 = verify_gguf(run.gguf / f"{name}-Q8_0.gguf", merged, n_threads=THREADS)
    base_gguf = export_merged(
        smollm2_dir, tmp_path / "base", ExportInfo(name="base", tokenizer_pre="smollm"), ["f32"]
    )["f32"]
    with_adapter = verify_gguf(
        base_gguf, merged, adapter=run.gguf / f"{name}-adapter.gguf", n_threads=THREADS
    )
    seconds["verify (3 files)"] = time.perf_counter() - start
    for report in (f16, q8, with_adapter):
        print(report.summary())
    assert f16.passed, f16.summary()
    assert f16.comparison.last_max_abs_diff <= 0.1
    assert f16.comparison.greedy_agreeing == 16
    assert with_adapter.passed, with_adapter.summary()
    assert with_adapter.comparison.last_max_abs_diff <= 1e-3
    assert with_adapter.comparison.greedy_agreeing == 16
    assert q8.comparison.top1_agreement >= 0.8, q8.summary()  # quantized: no logit bound

    _timed("modelfile", seconds, ["modelfile", str(recipe_file), "--out", "modelfiles"])
    modelfile = tmp_path / "modelfiles" / f"{name}.Modelfile"
    parsed = parse(modelfile.read_text(encoding="utf-8"))
    assert parsed.from_ == f"../runs/{name}/gguf/{name}-F16.gguf"
    assert parsed.template == CHATML_TEMPLATE
    assert parsed.system == prompting.SYSTEM_PROMPT

    _timed(
        "publish",
        seconds,
        ["publish", str(modelfile), "--name", MODEL_NAME, "--push", "--host", fake_ollama.url],
    )
    gguf_bytes = (run.gguf / f"{name}-F16.gguf").read_bytes()
    digest = "sha256:" + hashlib.sha256(gguf_bytes).hexdigest()
    uploads = [r for r in fake_ollama.requests if r.method == "POST" and "/api/blobs/" in r.path]
    assert [(r.path, len(r.body)) for r in uploads] == [(f"/api/blobs/{digest}", len(gguf_bytes))]
    (create,) = fake_ollama.requests_to("/api/create")
    assert json.loads(create.body) == {
        "model": MODEL_NAME,
        "stream": True,
        "files": {f"{name}-F16.gguf": digest},
        "license": parsed.licenses[0],
        "template": CHATML_TEMPLATE,
        "system": prompting.SYSTEM_PROMPT,
        "parameters": {
            "num_ctx": recipe.publish.num_ctx,
            "stop": list(prompting.STOP_STRINGS),
            "temperature": 0.7,
            "top_p": 0.8,
            "repeat_penalty": 1.07,
        },
    }
    assert fake_ollama.requests_to("/api/push")
    assert fake_ollama.model(MODEL_NAME) is not None
    print("seconds per stage:", {stage: round(s, 1) for stage, s in seconds.items()})
