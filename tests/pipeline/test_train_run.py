"""The smoke recipe end to end on the CPU: the real SmolLM2-135M, LoRA on conversations cut
from real books, checkpoints, metrics, the run folder, a SIGKILL and the resume, the merge."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyloom_pipeline.cli import main
from storyloom_pipeline.recipe import Recipe, load_recipe, save_recipe
from storyloom_pipeline.train import RunFolder, RunFolderError, TrainResult, merge_adapter, train

SMOKE = Path(__file__).resolve().parents[2] / "pipeline" / "recipes" / "smoke-smollm2-cpu.yaml"
PROJECTIONS = {f"{p}_proj" for p in ("q", "k", "v", "o", "gate", "up", "down")}


@pytest.fixture(scope="module")
def recipe(smollm2_dir: Path, chat_dataset: Path) -> Recipe:
    """The committed smoke recipe, on the SmolLM2 folder the session already converted (its
    GGUF loads in ~40 s, the folder in ~1 s) and the books' conversations."""
    smoke = load_recipe(SMOKE)
    data = dataclasses.replace(smoke.data, dataset=str(chat_dataset))
    return dataclasses.replace(smoke, base_model=str(smollm2_dir), data=data)


@pytest.fixture(scope="module")
def run(smoke_training: TrainResult) -> TrainResult:
    """The session's run of this recipe (conftest.py), trained once for these tests and the
    evaluation's (test_the_run_folder_says_what_ran checks that it is this recipe's)."""
    return smoke_training


def adapter_weights(adapter_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(adapter_dir / "adapter_model.safetensors")


def test_the_smoke_recipe_trains_and_the_held_out_loss_falls(run: TrainResult) -> None:
    metrics = RunFolder(run.run_dir).read_metrics()
    losses = {m["step"]: m["loss"] for m in metrics if "loss" in m}
    evals = {m["step"]: m["eval_loss"] for m in metrics if "eval_loss" in m}
    assert sorted(losses) == [1, 2, 3, 4] and sorted(evals) == [2, 4]
    assert all(0 < loss < 20 for loss in [*losses.values(), *evals.values()])
    assert evals[4] < evals[2]  # learning that carries over to unseen books
    assert run.global_step == 4 and run.resumed_from is None
    assert (run.first_loss, run.last_loss, run.eval_loss) == (losses[1], losses[4], evals[4])
    print(f"\nsmoke run: loss {losses}, eval loss {evals}, seconds {run.seconds}")


def test_the_run_folder_says_what_ran(run: TrainResult, recipe: Recipe) -> None:
    folder = RunFolder(run.run_dir)
    assert load_recipe(folder.recipe_file) == recipe
    record = json.loads(folder.run_file.read_text("utf-8"))
    [start] = record["starts"]
    assert re.fullmatch(r"[0-9a-f]{40}", start["git"]["commit"])
    assert isinstance(start["git"]["dirty"], bool)
    assert start["versions"]["torch"] and start["versions"]["peft"]
    assert start["versions"]["transformers"] and start["resumed_from"] is None
    assert start["devices"]["processes"] == 1
    assert record["prompt_format_version"] == "cra-1"
    assert (
        record["data"]["train"]["examples"] == 8 and record["data"]["validation"]["examples"] == 2
    )
    assert record["data"]["train"]["dropped_too_long"] == 0
    for step in (2, 4):
        checkpoint = folder.checkpoints / f"checkpoint-{step}"
        for name in ("adapter_model.safetensors", "optimizer.pt", "trainer_state.json"):
            assert (checkpoint / name).is_file()
    assert folder.last_checkpoint() == folder.checkpoints / "checkpoint-4"
    config = json.loads((run.adapter_dir / "adapter_config.json").read_text("utf-8"))
    assert (config["r"], config["lora_alpha"]) == (recipe.lora.r, recipe.lora.alpha)
    assert set(config["target_modules"]) == PROJECTIONS
    weights = adapter_weights(run.adapter_dir)
    assert len(weights) == 30 * 7 * 2  # A and B of 7 projections in each of the 30 layers
    assert TrainResult.from_dict(json.loads(folder.result_file.read_text("utf-8"))) == run


def test_a_finished_run_is_not_trained_again(run: TrainResult, recipe: Recipe) -> None:
    folder = RunFolder(run.run_dir)
    metrics = folder.metrics.read_text("utf-8")
    assert train(recipe, run.run_dir) == run
    assert folder.metrics.read_text("utf-8") == metrics


def test_a_run_folder_refuses_another_recipe(run: TrainResult, recipe: Recipe) -> None:
    other = dataclasses.replace(recipe, lora=dataclasses.replace(recipe.lora, r=4))
    with pytest.raises(RunFolderError, match=r"other settings \(lora\.r: 8 -> 4\)"):
        train(other, run.run_dir)


def test_train_errors_are_one_clear_line(tmp_path: Path, chat_dataset: Path) -> None:
    with pytest.raises(SystemExit, match="storyloom-pipeline train: cannot read recipe"):
        main(["train", "--recipe", str(tmp_path / "missing.yaml")])
    recipe = dataclasses.replace(load_recipe(SMOKE), base_model=str(tmp_path / "no-model"))
    save_recipe(recipe, tmp_path / "r.yaml")
    argv = ["train", "--recipe", str(tmp_path / "r.yaml"), "--run-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit, match=r"train: no train split: .*empty/train\.jsonl"):
        main([*argv, "--dataset", str(tmp_path / "empty")])  # found before any model loads
    with pytest.raises(SystemExit, match=r"train: .*no-model' is neither an existing model"):
        main([*argv, "--run-dir", str(tmp_path / "run2"), "--dataset", str(chat_dataset)])


def test_the_merged_model_is_a_plain_model_computing_what_base_plus_adapter_did(
    run: TrainResult, recipe: Recipe, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    merged_dir = merge_adapter(run.adapter_dir, tmp_path / "merged", base_model=recipe.base_model)
    seconds = time.perf_counter() - start
    record = (merged_dir / "storyloom-merge.json").stat().st_mtime_ns
    assert merge_adapter(run.adapter_dir, merged_dir, base_model=recipe.base_model) == merged_dir
    assert (merged_dir / "storyloom-merge.json").stat().st_mtime_ns == record  # reused
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32)
    assert type(merged).__name__ == "LlamaForCausalLM"
    assert not any("lora" in name for name, _ in merged.named_parameters())
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = tokenizer("It was a dark and stormy night; the rain fell", return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(recipe.base_model, dtype=torch.float32)
    with torch.no_grad():
        before = base(**ids).logits
        want = PeftModel.from_pretrained(base, run.adapter_dir)(**ids).logits  # wraps `base`
        got = merged(**ids).logits
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    assert (got - before).abs().max() > 0.1  # the adapter did change the model
    print(f"\nmerge {seconds:.1f} s, max |merged - peft| {(got - want).abs().max():.2e}")


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """`train --merge` of the smoke recipe in a child process, to be interrupted."""

    argv: list[str]  # the command, to run again in this process
    process: subprocess.Popen
    folder: RunFolder
    log: Path  # the child's output


def start_training(recipe: Recipe, tmp_path: Path) -> ChildRun:
    recipe_file = tmp_path / "smoke.yaml"
    save_recipe(recipe, recipe_file)
    run_dir = tmp_path / "run"
    argv = ["train", "--recipe", str(recipe_file), "--run-dir", str(run_dir), "--merge"]
    log = tmp_path / "first-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "storyloom_pipeline", *argv],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return ChildRun(argv, process, RunFolder(run_dir), log)


def wait_for(
    condition, process: subprocess.Popen, log: Path, what: str, seconds: float = 240
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        ended = process.poll() is not None
        assert not ended, f"the run ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} in time"
        time.sleep(0.05)


def assert_same_adapter(want_dir: Path, got_dir: Path) -> None:
    want, got = adapter_weights(want_dir), adapter_weights(got_dir)
    assert want.keys() == got.keys()
    worst = max((want[k] - got[k]).abs().max().item() for k in want)
    assert worst < 1e-5, f"the resumed adapter differs from the unbroken run's by {worst}"


def test_a_run_trained_again_in_the_same_folder_is_merged_again(
    run: TrainResult, recipe: Recipe, tmp_path: Path
) -> None:
    """The merge is reused by the adapter's content, not its path."""
    import torch
    from safetensors.torch import load_file, save_file

    adapter = tmp_path / "adapter"
    shutil.copytree(run.adapter_dir, adapter)
    merged = merge_adapter(adapter, tmp_path / "merged", base_model=recipe.base_model)
    name = "model.layers.0.self_attn.q_proj.weight"
    first = load_file(merged / "model.safetensors")[name]
    weights = adapter_weights(adapter)  # "trained again": B doubled, so is every delta
    weights = {k: v * 2 if "lora_B" in k else v for k, v in weights.items()}
    save_file(weights, adapter / "adapter_model.safetensors", metadata={"format": "pt"})
    assert merge_adapter(adapter, merged, base_model=recipe.base_model) == merged
    second = load_file(merged / "model.safetensors")[name]
    base = load_file(Path(recipe.base_model) / "model.safetensors")[name]
    assert (first - base).abs().max() > 1e-3
    assert torch.allclose(second - base, 2 * (first - base), atol=1e-6)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint_and_ends_where_an_unbroken_one_did(
    run: TrainResult, recipe: Recipe, tmp_path: Path
) -> None:
    """SIGKILL right after checkpoint-2 is complete; the same command again picks it up and
    finishes with the adapter the uninterrupted run trained."""
    child = start_training(recipe, tmp_path)
    argv, process, folder, log = child.argv, child.process, child.folder, child.log
    checkpoint_2 = folder.checkpoints / "checkpoint-2"
    wait_for(lambda: folder.last_checkpoint() == checkpoint_2, process, log, "checkpoint-2")
    process.send_signal(signal.SIGKILL)
    assert process.wait(10) == -signal.SIGKILL
    assert not folder.result_file.exists() and not (folder.checkpoints / "checkpoint-4").exists()
    assert main(argv) == 0  # the same command, in this process
    resumed = TrainResult.from_dict(json.loads(folder.result_file.read_text("utf-8")))
    assert resumed.resumed_from == "checkpoint-2" and resumed.global_step == 4
    starts = [m["step"] for m in folder.read_metrics() if m.get("event") == "start"]
    assert starts == [0, 2]
    assert [s["resumed_from"] for s in json.loads(folder.run_file.read_text())["starts"]] == [
        None,
        "checkpoint-2",
    ]
    assert_same_adapter(run.adapter_dir, resumed.adapter_dir)
    assert resumed.eval_loss == pytest.approx(run.eval_loss, abs=1e-5)
    assert (folder.merged / "model.safetensors").is_file()


@pytest.mark.slow
def test_sigterm_stops_the_run_with_a_checkpoint_and_the_same_command_resumes_it(
    run: TrainResult, recipe: Recipe, tmp_path: Path
) -> None:
    """A preempted machine: SIGTERM once training has begun ends the run after the step under
    way, with a checkpoint of it, and an error; no adapter or result that a later `train`
    (or `--merge`) would take for the finished run. The same command then finishes it."""
    child = start_training(recipe, tmp_path)
    argv, process, folder, log = child.argv, child.process, child.folder, child.log

    def training_began() -> bool:
        return any(m.get("event") == "start" for m in folder.read_metrics())

    wait_for(training_began, process, log, "the start of training")
    process.send_signal(signal.SIGTERM)
    assert process.wait(120) == 1, log.read_text()[-3000:]
    stopped = re.search(r"train: stopped at step (\d) of 4 \(SIGTERM\)", log.read_text())
    assert stopped, log.read_text()[-3000:]
    step = int(stopped[1])
    assert 1 <= step < 4  # the step under way when the signal came (step 1 on this CPU)
    assert folder.last_checkpoint() == folder.checkpoints / f"checkpoint-{step}"
    assert not folder.result_file.exists() and not folder.adapter.exists()
    assert not folder.merged.exists()

    assert main(argv) == 0  # the same command resumes rather than returning a result
    resumed = TrainResult.from_dict(json.loads(folder.result_file.read_text("utf-8")))
    assert resumed.resumed_from == f"checkpoint-{step}" and resumed.global_step == 4
    assert_same_adapter(run.adapter_dir, resumed.adapter_dir)
    assert (folder.merged / "model.safetensors").is_file()


def test_the_last_checkpoint_passes_over_one_still_marked_incomplete(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    for step in (2, 4, 6):
        checkpoint = folder.checkpoints / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder.checkpoints / "checkpoint-6" / "trainer_state.json").unlink()  # cut short by a kill
    # transformers rewriting checkpoint-4: the old trainer_state.json is still readable
    (folder.checkpoints / "checkpoint-4" / "checkpoint-is-incomplete.txt").write_text("saving")
    assert folder.last_checkpoint() == folder.checkpoints / "checkpoint-2"
