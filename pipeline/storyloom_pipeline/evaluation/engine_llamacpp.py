"""The llama.cpp engine: a GGUF file, optionally with a LoRA adapter GGUF, run in process by
the export stage's llama.cpp binding (`storyloom_pipeline.export.engine`, the one the GGUF
verification uses); this module only adapts it to what the evaluation asks.

That binding decodes greedily, so this engine does too: a temperature above 0 is refused
rather than silently ignored. The context is `--num-ctx` tokens, which must hold the prompt
plus `--max-new-tokens` (to generate) and the prompt plus the reply's start and the scored
continuation (to score); a chunk that does not fit is `ChunkTooLong`, which the run skips.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from storyloom_pipeline.evaluation.engine import (
    ChunkTooLong,
    EngineError,
    Generation,
    GenerationSettings,
    Score,
    cut_at_stop,
    first_target_token,
)
from storyloom_pipeline.evaluation.models import ModelSpec
from storyloom_pipeline.train.examples import encode_turn


class LlamaCppEngine:
    name = "llama.cpp"
    can_score = True

    def __init__(self, spec: ModelSpec, *, n_ctx: int, threads: int | None = None) -> None:
        from storyloom_pipeline.export import engine as llama

        self._errors: tuple[type[Exception], ...] = (llama.EngineError, ValueError)
        self.spec = spec
        try:
            self._engine = llama.Engine(
                Path(spec.ref),
                adapter=Path(spec.adapter) if spec.adapter else None,
                n_ctx=n_ctx,
                n_threads=threads,
            )
        except (llama.EngineUnavailable, llama.EngineError, OSError) as exc:
            raise EngineError(f"cannot load {spec.label} in llama.cpp: {exc}") from exc
        self._threads = threads or llama.default_threads()

    def generate(self, prompt: str, settings: GenerationSettings) -> Generation:
        if settings.temperature > 0:
            raise EngineError(
                "the llama.cpp engine decodes greedily; use --temperature 0 for GGUF models"
            )
        ids, _ = encode_turn(self._tokenize, prompt)
        if len(ids) + settings.max_new_tokens > self._engine.n_ctx:
            raise ChunkTooLong(
                f"the prompt ({len(ids)} tokens) and --max-new-tokens "
                f"{settings.max_new_tokens} do not fit --num-ctx {self._engine.n_ctx}",
                self._engine.n_ctx,
            )
        try:
            new = self._engine.greedy(ids, settings.max_new_tokens)
        except self._errors as exc:
            raise EngineError(f"llama.cpp: {exc}") from exc
        text, _ = cut_at_stop(self._engine.detokenize(new))
        finish = "length" if len(new) >= settings.max_new_tokens else "stop"
        return Generation(text, finish, len(new))

    def _tokenize(self, text: str, special: bool) -> list[int]:
        return self._engine.tokenize(text, add_special=special)

    def score(self, prompt: str, prefill: str, target: str) -> Score:
        prompt_ids, reply_ids = encode_turn(self._tokenize, prompt, prefill + target)
        # byte-level BPE pieces are the reply's bytes, so their running length is each
        # token's end in bytes
        ends = itertools.accumulate(len(piece) for piece in self._engine.pieces(reply_ids))
        first = first_target_token(list(ends), len(prefill.encode()))
        if first == len(reply_ids):
            return Score(0.0, 0)
        total = len(prompt_ids) + len(reply_ids)
        if total > self._engine.n_ctx:
            raise ChunkTooLong(
                f"the prompt, the reply's start and the continuation to score ({total} tokens) "
                f"do not fit --num-ctx {self._engine.n_ctx}",
                self._engine.n_ctx,
            )
        try:
            # nll[i] is that of ids[i + 1]: the target's first token is at len(prompt) + first
            nll = self._engine.token_nll(prompt_ids + reply_ids)
        except self._errors as exc:
            raise EngineError(f"llama.cpp: {exc}") from exc
        start = len(prompt_ids) + first
        return Score(float(nll[start - 1 :].sum()), len(reply_ids) - first)

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            binding = f"llama-cpp-python {version('llama-cpp-python')}"
        except PackageNotFoundError:
            binding = "unknown"
        return {
            "engine": self.name,
            "binding": binding,
            "n_ctx": self._engine.n_ctx,
            "threads": self._threads,
        }

    def close(self) -> None:
        self._engine.close()
