"""The GPU recipes' code path on a tiny random Qwen2: QLoRA exactly as cra-v1-7b-qlora.yaml
sets it up (4-bit NF4 with double quantization, bf16 compute, gradient checkpointing, paged
8-bit AdamW, LoRA on every projection), on the CPU here and on CUDA where there is one; and a
loss that turns NaN stopping the run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from storyloom_pipeline.recipe import Recipe, load_recipe
from storyloom_pipeline.train import RunFolder, TrainingError, merge_adapter, train
from storyloom_pipeline.train.model import load_for_training

RECIPES = Path(__file__).resolve().parents[2] / "pipeline" / "recipes"
PROJECTIONS = {f"{p}_proj" for p in ("q", "k", "v", "o", "gate", "up", "down")}


@pytest.fixture(scope="module")
def tiny_qwen2_dir(qwen2_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from qwen2_tiny import tiny_qwen2

    return tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2") / "model", qwen2_tokenizer)


def small_7b_recipe(base: Path, dataset: Path, *, eval_steps: int | None = 1) -> Recipe:
    """cra-v1-7b-qlora.yaml as committed, with only the base model, the sequence length and the
    run's length made small."""
    full = load_recipe(RECIPES / "cra-v1-7b-qlora.yaml")
    return dataclasses.replace(
        full,
        base_model=str(base),
        data=dataclasses.replace(full.data, dataset=str(dataset), max_seq_length=1024),
        training=dataclasses.replace(
            full.training,
            max_steps=2,
            gradient_accumulation_steps=2,
            logging_steps=1,
            eval_steps=eval_steps,
            save_steps=2,
        ),
    )


def check_qlora_run(recipe: Recipe, run_dir: Path, device: str) -> None:
    import bitsandbytes as bnb
    import torch

    model = load_for_training(recipe)
    layers = model.get_base_model().model.layers
    for layer in layers:
        projections = {**dict(layer.self_attn.named_children()), **dict(layer.mlp.named_children())}
        assert PROJECTIONS <= set(projections)
        for name in PROJECTIONS:
            lora = projections[name]
            base = lora.base_layer
            assert isinstance(base, bnb.nn.Linear4bit), f"{name} is not 4-bit"
            state = base.weight.quant_state
            assert state.quant_type == "nf4" and state.nested  # double quantization
            assert base.compute_dtype == torch.bfloat16
            assert base.weight.device.type == device
            assert lora.r["default"] == recipe.lora.r
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert model.get_base_model().is_gradient_checkpointing
    del model

    result = train(recipe, run_dir)
    metrics = RunFolder(run_dir).read_metrics()
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) == 2 and all(0 < loss < 20 for loss in losses)
    assert result.eval_loss is not None and 0 < result.eval_loss < 20
    arguments = torch.load(result.adapter_dir / "training_args.bin", weights_only=False)
    assert arguments.optim == "paged_adamw_8bit" and arguments.bf16
    merged = merge_adapter(
        result.adapter_dir, run_dir / "merged", base_model=recipe.base_model, dtype=recipe.dtype
    )
    config = json.loads((merged / "config.json").read_text("utf-8"))
    assert config["model_type"] == "qwen2" and "quantization_config" not in config
    assert config["dtype"] == "bfloat16"
    print(f"\nQLoRA on {device}: losses {losses}, seconds {result.seconds}")


@pytest.mark.slow
def test_qlora_as_the_7b_recipe_sets_it_up_trains_on_the_cpu(
    tiny_qwen2_dir: Path, chat_dataset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("bitsandbytes")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs the gpu test instead")
    # Evaluation only after the last step: bitsandbytes 0.50.2's CPU backend repacks the 4-bit
    # weights for inference during an eval pass, and the next training step then fails on the
    # repacked layers that have a bias (Qwen2's q/k/v): "a view of a leaf Variable that
    # requires grad is being used in an in-place operation". CUDA has no such path.
    recipe = small_7b_recipe(tiny_qwen2_dir, chat_dataset, eval_steps=None)
    check_qlora_run(recipe, tmp_path / "run", "cpu")


@pytest.mark.gpu
def test_qlora_as_the_7b_recipe_sets_it_up_trains_on_a_gpu(
    tiny_qwen2_dir: Path, chat_dataset: Path, tmp_path: Path
) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    pytest.importorskip("bitsandbytes")
    check_qlora_run(small_7b_recipe(tiny_qwen2_dir, chat_dataset), tmp_path / "run", "cuda")


def smoke_recipe_on(base: Path, dataset: Path, **training: int) -> Recipe:
    """The CPU smoke recipe on a tiny Qwen2 `base`, saving a checkpoint every step."""
    smoke = load_recipe(RECIPES / "smoke-smollm2-cpu.yaml")
    return dataclasses.replace(
        smoke,
        base_model=str(base),
        architecture="qwen2",
        data=dataclasses.replace(smoke.data, dataset=str(dataset)),
        training=dataclasses.replace(smoke.training, save_steps=1, eval_steps=None, **training),
    )


def test_a_loss_that_turns_nan_stops_the_run_and_saves_nothing(
    tiny_qwen2_dir: Path, chat_dataset: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    broken = tmp_path / "broken"
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir, dtype=torch.float32)
    model.model.norm.weight.data[0] = float("nan")  # every logit becomes NaN
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_qwen2_dir).save_pretrained(broken)
    recipe = smoke_recipe_on(broken, chat_dataset)
    with pytest.raises(TrainingError, match=r"loss became nan at step 1; .* checkpoint is none"):
        train(recipe, tmp_path / "run")
    folder = RunFolder(tmp_path / "run")
    assert folder.last_checkpoint() is None and not folder.result_file.exists()
    assert [m["loss"] for m in folder.read_metrics() if "loss" in m] == [None]  # JSON null


def test_weights_that_turn_nan_between_two_logs_are_never_checkpointed(
    tiny_qwen2_dir: Path, chat_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss is logged at step 1 only (logging_steps 10 of 4 steps) and turns NaN at step 3:
    the checkpoint of step 3 and the final one would hold NaN weights, the adapter too."""
    from storyloom_pipeline.train import run as train_run

    forwards = 0

    def nan_from_the_third_step(module, inputs, output):
        nonlocal forwards
        forwards += module.training
        return output * float("nan") if module.training and forwards >= 3 else output

    def loaded(recipe: Recipe):
        model = load_for_training(recipe)
        model.get_base_model().lm_head.register_forward_hook(nan_from_the_third_step)
        return model

    monkeypatch.setattr(train_run, "load_for_training", loaded)
    recipe = smoke_recipe_on(tiny_qwen2_dir, chat_dataset, logging_steps=10)
    message = (
        r"weights became NaN or infinite by step 3 .*; the last good checkpoint is checkpoint-2"
    )
    with pytest.raises(TrainingError, match=message):
        train(recipe, tmp_path / "run")
    folder = RunFolder(tmp_path / "run")
    assert sorted(p.name for p in folder.checkpoints.iterdir()) == ["checkpoint-1", "checkpoint-2"]
    assert folder.last_checkpoint() == folder.checkpoints / "checkpoint-2"
    assert not folder.adapter.exists() and not folder.result_file.exists()
    assert forwards == 3  # the run stopped at the step that went NaN
