"""`train(recipe, run_dir)`: one LoRA/QLoRA run with transformers' Trainer, resumable.

Calling it again on the same run folder goes on from the newest complete checkpoint (after a
crash, a kill or Ctrl+C), and returns at once when the run had already finished. SIGTERM (a
preempted cloud GPU, a scheduler stopping the job) during training finishes the step under way,
saves a checkpoint and raises `TrainingError`: only a run that reached its last step writes
adapter/ and result.json. A loss that turns NaN or infinite stops the run with
`TrainingError` too, and no checkpoint or adapter holding the diverged weights is written
(every save, and the adapter, first checks that the LoRA weights are finite). Several GPUs:
start the same command under `accelerate launch` (see the recipe headers); the Trainer runs
distributed data parallel and only the main process writes the run folder.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyloom_pipeline.base_model import load_tokenizer, resolve
from storyloom_pipeline.recipe import Data, Recipe
from storyloom_pipeline.train.examples import (
    ChatTokens,
    DataError,
    read_chat_split,
    tokenize_split,
)
from storyloom_pipeline.train.model import (
    TrainingError,
    load_for_training,
    process_state,
    training_device,
)
from storyloom_pipeline.train.run_folder import RunFolder

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, TrainingArguments

Conversations = list[list[dict[str, str]]]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    adapter_dir: Path  # peft adapter + tokenizer: the input of merge_adapter and the GGUF export
    global_step: int
    first_loss: float | None  # the first and last logged training loss
    last_loss: float | None
    eval_loss: float | None  # on the eval split after the last step (None without one)
    resumed_from: str | None  # the checkpoint this session started from
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, this session

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"run_dir": str(self.run_dir), "adapter_dir": str(self.adapter_dir)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainResult:
        return cls(
            **data | {"run_dir": Path(data["run_dir"]), "adapter_dir": Path(data["adapter_dir"])}
        )


class _Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)


def train(recipe: Recipe, run_dir: Path, *, dataset: Path | None = None) -> TrainResult:
    """Train `recipe` into `run_dir` (see run_folder.py for its layout) and return the result.

    `dataset` overrides `recipe.data.dataset` (a `storyloom-pipeline dataset` folder); the run
    folder's recipe.yaml records the one used. A run folder holding another recipe is refused.
    """
    if dataset is not None:
        recipe = replace(recipe, data=replace(recipe.data, dataset=str(dataset)))
    folder = RunFolder(run_dir)
    main = process_state().is_main_process
    folder.claim(recipe, write=main)
    finished = folder.read_json(folder.result_file)
    if finished is not None:
        return TrainResult.from_dict(finished)

    watch = _Stopwatch()
    with watch.stage("read_data"):  # before any model file: a wrong path fails at once
        splits = _read_data(recipe.data)
    with watch.stage("load_tokenizer"):
        tokenizer = _tokenizer(recipe)
    with watch.stage("tokenize"):
        train_set, eval_set, data_stats = _tokenize(recipe.data, splits, tokenizer)
    resumed_from = folder.last_checkpoint()
    if main:
        folder.record_start(resumed_from, data_stats)
    with watch.stage("load_model"):
        from transformers import set_seed

        set_seed(recipe.training.seed)  # the LoRA initialisation is random
        model = load_for_training(recipe)
    stop = threading.Event()
    trainer, log = _trainer(recipe, folder, model, tokenizer, train_set, eval_set, main, stop)
    with watch.stage("train"), _sigterm_sets(stop):
        trainer.train(resume_from_checkpoint=str(resumed_from) if resumed_from else None)
    last = folder.last_checkpoint()
    if log.diverged is None and not _weights_finite(model):
        log.diverged = "the adapter's weights are NaN or infinite at the end of training"
    if log.diverged is not None:
        raise TrainingError(
            f"{log.diverged}; the last good checkpoint is {last.name if last else 'none'}. "
            "Lower training.learning_rate (or raise warmup_ratio) and train in a new run folder."
        )
    step, max_steps = trainer.state.global_step, trainer.state.max_steps
    if step < max_steps:  # stopped early: a partial adapter must not pass for the result
        why = "SIGTERM" if stop.is_set() else "the trainer stopped early"
        raise TrainingError(
            f"stopped at step {step} of {max_steps} ({why}); "
            f"{last.name if last else 'no checkpoint'} is saved. "
            "Run the same command again to resume."
        )
    eval_loss = log.eval_loss_at(trainer.state.global_step)
    if eval_set and eval_loss is None:
        with watch.stage("evaluate"):
            eval_loss = trainer.evaluate()["eval_loss"]
    with watch.stage("save_adapter"):
        trainer.save_model(str(folder.adapter))  # adapter weights + config + tokenizer
    losses = [m["loss"] for m in folder.read_metrics() if m.get("loss") is not None] if main else []
    result = TrainResult(
        run_dir=run_dir,
        adapter_dir=folder.adapter,
        global_step=trainer.state.global_step,
        first_loss=losses[0] if losses else None,
        last_loss=losses[-1] if losses else None,
        eval_loss=eval_loss,
        resumed_from=resumed_from.name if resumed_from else None,
        seconds=watch.seconds,
    )
    if main:
        folder.write_result(result.to_dict())
    return result


@contextmanager
def _sigterm_sets(stop: threading.Event) -> Iterator[None]:
    """While training, SIGTERM sets `stop` (the run then ends after the step under way with a
    checkpoint, see `_trainer`) instead of killing the process. Outside training (loading,
    the final save) SIGTERM kills as usual: the next start redoes that work and loses nothing.

    Not transformers' own `enable_jit_checkpoint`: it acts only 3 s after the signal, then
    saves before the optimizer step and throws that step's gradients away."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _any_process(flag: bool, device: Any) -> bool:
    """`flag` from any training process (under DDP all of them must stop at the same step,
    or the others wait forever in the next collective operation)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def _weights_finite(model: Any) -> bool:
    """Whether every trained weight (the LoRA's) is finite. A non-finite loss makes the
    gradients and then the weights NaN, but is only seen when it is logged, every
    logging_steps: a checkpoint between the two, or the final one, would keep NaN weights."""
    import torch

    trained = [p.detach() for p in model.parameters() if p.requires_grad]
    return bool(torch.stack([torch.isfinite(p).all() for p in trained]).all()) if trained else True


def _tokenizer(recipe: Recipe) -> PreTrainedTokenizerBase:
    tokenizer = load_tokenizer(resolve(recipe.base_model))
    if tokenizer.pad_token is None:  # padding positions are masked out; any id will do
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def _read_data(data: Data) -> dict[str, Conversations]:
    """The conversations of the train split and, when the recipe has one, the eval split."""
    folder = Path(data.dataset)
    splits = {
        data.train_split: read_chat_split(folder, data.train_split)[: data.max_train_examples]
    }
    if data.eval_split is not None:
        eval_chats = read_chat_split(folder, data.eval_split)[: data.max_eval_examples]
        splits[data.eval_split] = eval_chats
    return splits


def _tokenize(
    data: Data, splits: dict[str, Conversations], tokenizer: PreTrainedTokenizerBase
) -> tuple[list[dict[str, list[int]]], list[dict[str, list[int]]], dict[str, Any]]:
    stats: dict[str, Any] = {"dataset": data.dataset, "max_seq_length": data.max_seq_length}
    tokens: dict[str, list[ChatTokens]] = {}
    for split, conversations in splits.items():
        tokens[split], split_stats = tokenize_split(conversations, tokenizer, data.max_seq_length)
        stats[split] = split_stats.summary()
        if split == data.train_split and not tokens[split]:
            raise DataError(
                f"every training example is longer than data.max_seq_length "
                f"({data.max_seq_length} tokens; the shortest has {min(split_stats.lengths)})"
            )
    eval_tokens = tokens.get(data.eval_split, [])
    return _features(tokens[data.train_split]), _features(eval_tokens), stats


def _features(examples: list[ChatTokens]) -> list[dict[str, list[int]]]:
    return [
        {"input_ids": e.input_ids, "attention_mask": [1] * len(e), "labels": e.labels}
        for e in examples
    ]


def training_arguments(recipe: Recipe, output_dir: Path, *, evaluate: bool) -> TrainingArguments:
    from transformers import TrainingArguments

    t = recipe.training
    # transformers 5.x renamed gradient to activation checkpointing; older 5.x lack the new name
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
        else "gradient_checkpointing"
    )
    return TrainingArguments(
        **{checkpointing: t.gradient_checkpointing},
        **{f"{checkpointing}_kwargs": {"use_reentrant": False}},
        output_dir=str(output_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps is not None else -1,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float below 1 is a ratio of all steps
        weight_decay=t.weight_decay,
        optim=t.optimizer,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        bf16=recipe.dtype == "bfloat16",
        fp16=recipe.dtype == "float16",
        use_cpu=training_device() == "cpu",  # else transformers refuses bf16 without a GPU
        logging_steps=t.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # a NaN loss must show (and stop the run), not be hidden
        eval_strategy="steps" if evaluate and t.eval_steps else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        data_seed=t.seed,
        report_to="none",
        remove_unused_columns=False,  # the examples hold exactly the model's inputs
        ddp_find_unused_parameters=False,  # LoRA under DDP: every adapter gets a gradient
    )


def _trainer(
    recipe: Recipe,
    folder: RunFolder,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    train_set: list[dict[str, list[int]]],
    eval_set: list[dict[str, list[int]]],
    main: bool,
    stop: threading.Event,
) -> tuple[Any, Any]:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback

    class StopWhenAsked(TrainerCallback):
        """Ends the run after the step under way once SIGTERM came, with a checkpoint of it."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if _any_process(stop.is_set(), args.device):
                control.should_save = True
                control.should_training_stop = True

    class MetricsLog(TrainerCallback):
        """Appends every log to metrics.jsonl, and stops the run without a checkpoint when the
        logged loss or, at a step that would save one, the weights are no longer finite."""

        def __init__(self) -> None:
            self.diverged: str | None = None  # what went non-finite, and at which step
            self.eval_losses: dict[int, float] = {}

        def eval_loss_at(self, step: int) -> float | None:
            return self.eval_losses.get(step)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if main:
                folder.log_metrics(
                    {"event": "start", "step": state.global_step, "time": time.time()}
                )

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            if main:
                record = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
                folder.log_metrics(record | logs)
            if "eval_loss" in logs:
                self.eval_losses[state.global_step] = logs["eval_loss"]
            loss = logs.get("loss")
            if isinstance(loss, float) and not math.isfinite(loss):
                self.diverged = f"the training loss became {loss} at step {state.global_step}"
                control.should_training_stop = True
                control.should_save = False  # never checkpoint diverged weights

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # before the Trainer logs and saves this step: its save must not keep NaN weights
            if control.should_save and not _weights_finite(kwargs["model"]):
                self.diverged = (
                    f"the adapter's weights became NaN or infinite by step {state.global_step} "
                    "(a non-finite loss since the last log)"
                )
                control.should_training_stop = True
                control.should_save = False

    log = MetricsLog()
    trainer = Trainer(
        model=model,
        args=training_arguments(recipe, folder.checkpoints, evaluate=bool(eval_set)),
        train_dataset=train_set,
        eval_dataset=eval_set or None,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest"),
        processing_class=tokenizer,
        callbacks=[StopWhenAsked(), log],  # log last: it may veto the save of diverged weights
    )
    return trainer, log
