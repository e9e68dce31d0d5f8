"""An evaluation run: held-out chunks -> both models' replies and scores -> judge -> report.

Each model is loaded once, used for every chunk it still owes, and released before the next
one loads (two 7B models need not fit at once). Every finished item is committed to the
journal (`<out>/journal.sqlite`) before it counts, so an interrupted run picks up where it
stopped, and a finished one re-renders its report without loading a model. The outputs:
`selection.json` (exactly which chunks), `metrics.json`, `report.md`, `report.html` and the
plots under `plots/`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyloom_pipeline.evaluation.engine import Engine, GenerationSettings
from storyloom_pipeline.evaluation.heldout import HeldOut, write_selection
from storyloom_pipeline.evaluation.journal import EvalJournal
from storyloom_pipeline.evaluation.judge import ORDERS, JudgeSettings, Pair, judge_key, judge_pairs
from storyloom_pipeline.evaluation.models import LLAMA_CPP, OLLAMA, TRANSFORMERS, ModelSpec
from storyloom_pipeline.evaluation.replies import REPLY_KIND, make_reply, reply_key
from storyloom_pipeline.reasoning.providers import Provider

ROLES = ("model", "baseline")


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"  # transformers: auto (CUDA when there is one), cpu, cuda, cuda:1, …
    dtype: str = "auto"  # transformers: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, …
    load_in_4bit: bool = False  # transformers: a QLoRA adapter's base in NF4, as trained
    threads: int | None = None  # CPU threads of transformers and llama.cpp (default: theirs)
    ollama_host: str | None = None  # default: OLLAMA_HOST, else localhost

    def affecting(self, spec: ModelSpec) -> dict[str, Any]:
        """The options that change what `spec`'s engine computes (not merely how fast)."""
        if spec.engine == TRANSFORMERS:
            return {"dtype": self.dtype, "load_in_4bit": self.load_in_4bit}
        return {}


@dataclass(frozen=True)
class Judge:
    provider: Provider  # opens its connections on first use, inside the judge's event loop
    settings: JudgeSettings
    describe: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    out: Path
    held_out: HeldOut
    models: dict[str, ModelSpec]  # "model" (under test) and "baseline"
    generation: GenerationSettings
    engines: EngineOptions
    judge: Judge | None = None


@dataclass
class Outcome:
    replies: dict[str, dict[str, dict[str, Any]]]  # role -> chunk id -> journal payload
    verdicts: dict[str, dict[str, dict[str, Any]]]  # chunk id -> order -> journal payload
    fingerprints: dict[str, str]
    unjudged: list[str]


def open_engine(spec: ModelSpec, options: EngineOptions, n_ctx: int) -> Engine:
    if spec.engine == OLLAMA:
        from storyloom_pipeline.evaluation.engine_ollama import OllamaEngine

        return OllamaEngine(spec.ref, options.ollama_host)
    if spec.engine == LLAMA_CPP:
        from storyloom_pipeline.evaluation.engine_llamacpp import LlamaCppEngine

        return LlamaCppEngine(spec, n_ctx=n_ctx, threads=options.threads)
    from storyloom_pipeline.evaluation.engine_transformers import TransformersEngine

    return TransformersEngine(
        spec,
        device=options.device,
        dtype=options.dtype,
        load_in_4bit=options.load_in_4bit,
        threads=options.threads,
    )


def run(evaluation: Evaluation, on_progress: Callable[[int], None] | None = None) -> Outcome:
    """Do what the journal does not have yet; return everything the report needs.

    `on_progress(n)` is called as n more items finish (or are found done)."""
    evaluation.out.mkdir(parents=True, exist_ok=True)
    write_selection(evaluation.held_out, evaluation.out / "selection.json")
    tick = on_progress or (lambda _: None)
    outcome = Outcome(replies={}, verdicts={}, fingerprints={}, unjudged=[])
    with EvalJournal(evaluation.out / "journal.sqlite") as journal:
        for role in ROLES:
            _replies(evaluation, role, journal, outcome, tick)
        if evaluation.judge is not None:
            _verdicts(evaluation, evaluation.judge, journal, outcome, tick)
    return outcome


def _replies(
    evaluation: Evaluation,
    role: str,
    journal: EvalJournal,
    outcome: Outcome,
    tick: Callable[[int], None],
) -> None:
    spec = evaluation.models[role]
    engine: Engine | None = None
    if spec.engine == OLLAMA:  # cheap to open, and its digest is its fingerprint
        engine = open_engine(spec, evaluation.engines, evaluation.generation.num_ctx)
        fingerprint = f"ollama:{engine.describe()['digest']}"
    else:
        fingerprint = spec.file_fingerprint()
    outcome.fingerprints[role] = fingerprint
    model = {"fingerprint": fingerprint, **evaluation.engines.affecting(spec)}
    keyed = [
        (chunk, reply_key(model, chunk, evaluation.generation))
        for chunk in evaluation.held_out.chunks
    ]
    done = {key: journal.get(key) for _, key in keyed}
    tick(sum(payload is not None for payload in done.values()))
    try:
        for chunk, key in keyed:
            if done[key] is None:
                if engine is None:
                    engine = open_engine(spec, evaluation.engines, evaluation.generation.num_ctx)
                payload = make_reply(engine, chunk, evaluation.generation)
                journal.record(key, REPLY_KIND, payload)
                done[key] = payload
                tick(1)
    finally:
        if engine is not None:
            engine.close()
    outcome.replies[role] = {chunk.chunk_id: done[key] for chunk, key in keyed}  # type: ignore[misc]


def _pairs(evaluation: Evaluation, outcome: Outcome) -> list[Pair]:
    """The chunks both models answered (none skipped them), as the judge sees them."""
    model, baseline = outcome.replies["model"], outcome.replies["baseline"]
    return [
        Pair(
            chunk_id=chunk.chunk_id,
            context=chunk.context,
            model_answer=model[chunk.chunk_id]["answer"],
            baseline_answer=baseline[chunk.chunk_id]["answer"],
            target_sentences=_target_sentences(chunk.continuation),
        )
        for chunk in evaluation.held_out.chunks
        if "skipped" not in model[chunk.chunk_id] and "skipped" not in baseline[chunk.chunk_id]
    ]


def _target_sentences(text: str) -> int:
    from storyloom_pipeline.sentences import split_sentences

    return len(split_sentences(text))


def _verdicts(
    evaluation: Evaluation,
    judge: Judge,
    journal: EvalJournal,
    outcome: Outcome,
    tick: Callable[[int], None],
) -> None:
    pairs = _pairs(evaluation, outcome)
    keys = {
        (pair.chunk_id, order): judge_key(
            pair, order, judge.provider.model, judge.settings.context_chars
        )
        for pair in pairs
        for order in ORDERS
    }
    tick(sum(journal.has(key) for key in keys.values()))

    async def ask() -> list[str]:
        try:
            report = await judge_pairs(
                judge.provider, pairs, journal, judge.settings, on_done=lambda: tick(1)
            )
        finally:
            await judge.provider.aclose()
        return report.unjudged

    outcome.unjudged = asyncio.run(ask())
    for (chunk_id, order), key in keys.items():
        payload = journal.get(key)
        if payload is not None:
            outcome.verdicts.setdefault(chunk_id, {})[order] = payload
