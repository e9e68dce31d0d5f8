"""Does a GGUF hold the model it was made from? Read it back, then run it in llama.cpp.

1. Metadata: general.* (type, architecture, name, Storyloom prompt format), tokenizer keys.
2. Tensors: every tensor the source implies is there, and equals the source weight up to the
   rounding of its type (exactly, for F32).
3. llama.cpp: the same token ids through llama.cpp and through transformers (in fp32 unless
   `reference_dtype` says otherwise): max |Δlogit| at the last position and over all
   positions, top-1 agreement, and greedy continuations (argmax, no EOS stop) compared token
   by token. An adapter GGUF is applied to its base GGUF at load and compared with the merged
   transformers model.

A bfloat16 or float16 reference halves the memory the check needs (REFERENCE_ROUNDING) but
rounds by itself: its measured rounding is added to every logit bound, and a greedy difference
where it preferred its own token by no more than that is a near-tie it may have flipped, not a
wrong file. float32 is the exact check.

llama.cpp runs in its "precise" mode here (F32 KV cache, no flash attention), so the bounds
below measure the file, not llama.cpp's fast-path rounding. Last-position max |Δlogit|
measured in this session (the tests print them): SmolLM2-135M-Instruct with a LoRA merged,
117-token Storyloom prompt: F32 3.8e-5, F16 0.028, BF16 0.30 (BF16 keeps 8 bits of mantissa);
the same through the adapter GGUF on an F32 base: 3.2e-5; a tiny random Qwen2, 106 tokens: F32
6.7e-6, F16 0.0085, BF16 0.062. A wrong q/k permutation or tensor mapping gives differences
above 1 and breaks the greedy continuation, which must also agree for these types.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from storyloom import prompting
from storyloom_pipeline.export.engine import Engine
from storyloom_pipeline.export.metadata import PROMPT_FORMAT_KEY
from storyloom_pipeline.export.reader import GgufFile, read_gguf
from storyloom_pipeline.export.reference_dtype import REFERENCE_DTYPES, REFERENCE_ROUNDING

# Last-position max |Δlogit| allowed per file type; for these types the greedy continuation
# must also be equal. Quantized types get no bound: their figures are reported.
LOGIT_BOUNDS: dict[str, float] = {"F32": 1e-3, "F16": 0.1, "BF16": 1.0}
# A tensor whose worst error exceeds this share of its largest weight is wrong, not rounded
# (Q4_0's rounding is at most 1/16 of a block's largest weight).
TENSOR_RELATIVE_BOUND = 0.25
DEFAULT_CONTEXT = (
    "The lamp had gone out an hour before, and Mara sat in the dark listening to the house. "
    "Somewhere below, a door she had locked herself swung open on its hinges."
)
TOKENIZER_SAMPLES = (
    "Ünïcödé — “quotes”, 東京, naïve café, emoji 🙂, numbers 12345 and 3.14159!",
    "<|im_start|>user\nTabs\tand  double  spaces\n\nend<|im_end|>",
)


class Reference:
    """The transformers model a GGUF is checked against, with its outputs cached per prompt
    (one reference serves the F32, F16, quantized and adapter checks)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.dtype: str = str(model.dtype).removeprefix("torch.")
        self._runs: dict[tuple[tuple[int, ...], int], ReferenceRun] = {}

    @classmethod
    def load(cls, folder: Path, dtype: str = "float32") -> Reference:
        """The model in `folder`, its weights and arithmetic in `dtype` (REFERENCE_DTYPES)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if dtype not in REFERENCE_DTYPES:
            raise ValueError(f"a reference dtype is one of {', '.join(REFERENCE_DTYPES)}")
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
        return cls(model, AutoTokenizer.from_pretrained(folder))

    def tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def run(self, ids: list[int], greedy_tokens: int) -> ReferenceRun:
        """The model on `ids`, then `greedy_tokens` greedy steps (no EOS stop); cached."""
        key = (tuple(ids), greedy_tokens)
        if key not in self._runs:
            self._runs[key] = self._run(ids, greedy_tokens)
        return self._runs[key]

    def _run(self, ids: list[int], greedy_tokens: int) -> ReferenceRun:
        import torch

        with torch.no_grad():
            out = self.model(torch.tensor([ids]), use_cache=True)
            logits = out.logits[0].float().numpy()
            # transformers 5.25 renamed past_key_values to cache (the old name warns).
            cache_key = "cache" if "cache" in out else "past_key_values"
            generated: list[int] = []
            steps = []
            while len(generated) < greedy_tokens:
                steps.append(out.logits[0, -1].float().numpy())
                generated.append(int(steps[-1].argmax()))
                if len(generated) < greedy_tokens:
                    step = torch.tensor([generated[-1:]])
                    out = self.model(step, use_cache=True, **{cache_key: out[cache_key]})
        return ReferenceRun(logits, generated, np.array(steps).reshape(-1, logits.shape[-1]))


@dataclass(frozen=True)
class ReferenceRun:
    logits: np.ndarray  # of every prompt position
    greedy: list[int]  # the greedy continuation
    greedy_logits: np.ndarray  # of each greedy step, one row per token of `greedy`

    def margin(self, step: int, other: int) -> float:
        """How far (in logits) the reference preferred its own greedy token at `step` over
        `other`: near 0 is a near-tie that rounding may flip."""
        return float(self.greedy_logits[step, self.greedy[step]] - self.greedy_logits[step, other])


@dataclass
class Comparison:
    tokens: int  # prompt length
    max_abs_diff: float  # over all positions
    last_max_abs_diff: float
    top1_agreement: float  # share of positions whose argmax agrees
    greedy_engine: list[int]
    greedy_reference: list[int]
    # at the first greedy difference: the reference's logit margin for its token over
    # llama.cpp's (None when all agree)
    greedy_margin: float | None = None

    @property
    def greedy_agreeing(self) -> int:
        """How many greedy tokens agree before the first difference."""
        for i, (a, b) in enumerate(zip(self.greedy_engine, self.greedy_reference, strict=False)):
            if a != b:
                return i
        return min(len(self.greedy_engine), len(self.greedy_reference))


@dataclass
class TensorCheck:
    count: int
    missing: list[str]  # expected from the source, absent from the file
    unexpected: list[str]  # in the file, not implied by the source
    worst_tensor: str
    worst_relative_error: float  # max |Δ| / max |w| of the worst tensor
    exact: bool  # every tensor bit-equal to its source (expected for F32)


@dataclass
class VerifyReport:
    path: Path
    adapter: Path | None
    file_type: str  # F32, F16, Q8_0, …
    metadata: dict[str, Any]
    tensors: TensorCheck | None
    tokenizer_mismatches: list[str]
    comparison: Comparison
    logit_bound: float | None
    reference_dtype: str = "float32"
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        found = [
            f"metadata: {key} is {value!r}"
            for key, value in self.metadata.items()
            if key.startswith("missing")
        ]
        if self.tensors is not None:
            found += [f"tensors: {name} is missing" for name in self.tensors.missing]
            found += [f"tensors: {name} is not in the source" for name in self.tensors.unexpected]
            if self.file_type == "F32" and self.adapter is None and not self.tensors.exact:
                found.append(f"tensors: {self.tensors.worst_tensor} differs from its F32 source")
            if self.tensors.worst_relative_error > TENSOR_RELATIVE_BOUND:
                found.append(
                    f"tensors: {self.tensors.worst_tensor} is off by "
                    f"{self.tensors.worst_relative_error:.3g} of its largest weight"
                )
        found += [
            f"tokenizer: llama.cpp splits {text!r} differently"
            for text in self.tokenizer_mismatches
        ]
        c = self.comparison
        if not math.isfinite(c.max_abs_diff):
            found.append(
                f"logits: not finite (the GGUF's, or the {self.reference_dtype} reference's)"
            )
        if self.logit_bound is not None:
            if c.last_max_abs_diff > self.logit_bound:
                found.append(
                    f"logits: last-token max |Δ| {c.last_max_abs_diff:.3g} > {self.logit_bound:.3g}"
                )
            # a half-precision reference may flip a near-tie; a clear preference must agree
            rounding = REFERENCE_ROUNDING[self.reference_dtype]
            if c.greedy_agreeing < len(c.greedy_reference) and not (
                c.greedy_margin is not None and c.greedy_margin <= rounding
            ):
                margin = (
                    "" if c.greedy_margin is None else f" (by a margin of {c.greedy_margin:.3g})"
                )
                found.append(
                    f"greedy: {c.greedy_agreeing} of {len(c.greedy_reference)} tokens agree{margin}"
                )
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        c = self.comparison
        what = f"{self.path.name} + {self.adapter.name}" if self.adapter else self.path.name
        lines = [
            f"{what} ({self.file_type}): {c.tokens} prompt tokens, "
            f"reference in {self.reference_dtype}",
            f"  logits: last max|Δ| {c.last_max_abs_diff:.3g}, all positions {c.max_abs_diff:.3g}, "
            f"top-1 agree {c.top1_agreement:.3f}"
            + (
                f" (bound {self.logit_bound:.3g})"
                if self.logit_bound is not None
                else " (no bound: quantized)"
            ),
            f"  greedy: {c.greedy_agreeing}/{len(c.greedy_reference)} tokens equal"
            + (
                f" (then a near-tie: reference margin {c.greedy_margin:.3g})"
                if c.greedy_margin is not None
                else ""
            ),
        ]
        if self.tensors is not None:
            lines.append(
                f"  tensors: {self.tensors.count} read back, "
                + (
                    "bit-exact"
                    if self.tensors.exact
                    else f"worst {self.tensors.worst_tensor} "
                    f"rel. error {self.tensors.worst_relative_error:.3g}"
                )
            )
        lines.append("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()))
        lines += [f"  PROBLEM {problem}" for problem in self.problems]
        return "\n".join(lines)


def verify_gguf(
    path: Path,
    reference: Reference | Path,
    *,
    adapter: Path | None = None,
    expected_tensors: dict[str, Callable[[], np.ndarray]] | None = None,
    prompt: str | None = None,
    greedy_tokens: int = 16,
    n_threads: int | None = None,
    reference_dtype: str = "float32",
) -> VerifyReport:
    """Check the GGUF at `path` (with `adapter` applied, if given) against `reference`, the
    transformers model it should equal (for an adapter: the merged model). `expected_tensors`
    ({GGUF name: loader of the source weight in GGUF layout}, from `model_gguf.source_tensors`
    or `adapter.source_tensors`) enables the tensor read-back of `adapter or path`."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    checked = read_gguf(adapter or path)
    metadata = required_metadata(checked)
    tensors = compare_tensors(checked, expected_tensors) if expected_tensors is not None else None
    file_type = file_type_name(read_gguf(path) if adapter else checked)
    seconds["read back"] = time.perf_counter() - clock

    clock = time.perf_counter()
    if isinstance(reference, Path):
        reference = Reference.load(reference, reference_dtype)
    text = prompt or prompting.render_chatml(prompting.continuation_messages(DEFAULT_CONTEXT))
    ids = reference.tokenize(text)
    expected = reference.run(ids, greedy_tokens)
    ref_logits, ref_greedy = expected.logits, expected.greedy
    seconds["transformers"] = time.perf_counter() - clock

    clock = time.perf_counter()
    with Engine(
        path, adapter=adapter, n_ctx=len(ids) + greedy_tokens + 8, n_threads=n_threads, precise=True
    ) as engine:
        seconds["llama.cpp load"] = time.perf_counter() - clock
        mismatches = [
            sample
            for sample in (text, *TOKENIZER_SAMPLES)
            if engine.tokenize(sample) != reference.tokenize(sample)
        ]
        clock = time.perf_counter()
        logits = engine.logits(ids)
        greedy = engine.greedy(ids, greedy_tokens, stop_at_eog=False)
        seconds["llama.cpp logits+greedy"] = time.perf_counter() - clock
    diff = np.abs(logits - ref_logits[:, : logits.shape[1]])
    comparison = Comparison(
        tokens=len(ids),
        max_abs_diff=float(diff.max()),
        last_max_abs_diff=float(diff[-1].max()),
        top1_agreement=float((logits.argmax(1) == ref_logits.argmax(1)).mean()),
        greedy_engine=greedy,
        greedy_reference=ref_greedy,
    )
    first = comparison.greedy_agreeing
    if first < min(len(greedy), len(ref_greedy)):
        comparison.greedy_margin = expected.margin(first, greedy[first])
    file_bound = LOGIT_BOUNDS.get(file_type)
    return VerifyReport(
        path=path,
        adapter=adapter,
        file_type=file_type,
        metadata=metadata,
        tensors=tensors,
        tokenizer_mismatches=mismatches,
        comparison=comparison,
        logit_bound=None
        if file_bound is None
        else file_bound + REFERENCE_ROUNDING[reference.dtype],
        reference_dtype=reference.dtype,
        seconds=seconds,
    )


def file_type_name(file: GgufFile) -> str:
    value = file.metadata.get(gguf.Keys.General.FILE_TYPE)
    if value is None:
        return "unknown"
    return gguf.LlamaFileType(value).name.removeprefix("MOSTLY_").removeprefix("ALL_")


def required_metadata(file: GgufFile) -> dict[str, Any]:
    """The keys llama.cpp and Storyloom rely on (arrays as their length), and a
    `missing <key>` entry for each one that is absent."""
    kind = file.metadata.get(gguf.Keys.General.TYPE)
    required = [
        gguf.Keys.General.TYPE,
        gguf.Keys.General.ARCHITECTURE,
        gguf.Keys.General.NAME,
        PROMPT_FORMAT_KEY,
    ]
    if kind == "adapter":
        required += [gguf.Keys.Adapter.TYPE, gguf.Keys.Adapter.LORA_ALPHA]
    else:
        required += [
            gguf.Keys.General.FILE_TYPE,
            gguf.Keys.Tokenizer.MODEL,
            gguf.Keys.Tokenizer.PRE,
            gguf.Keys.Tokenizer.LIST,
            gguf.Keys.Tokenizer.TOKEN_TYPE,
            gguf.Keys.Tokenizer.MERGES,
            gguf.Keys.Tokenizer.EOS_ID,
            gguf.Keys.Tokenizer.CHAT_TEMPLATE,
        ]
    found: dict[str, Any] = {}
    for key in required:
        value = file.metadata.get(key)
        if value is None:
            found[f"missing {key}"] = None
        elif isinstance(value, list):
            found[key] = f"{len(value)} entries"
        else:
            found[key] = value
    found["tensors"] = len(file.tensors)
    return found


def compare_tensors(file: GgufFile, expected: dict[str, Callable[[], np.ndarray]]) -> TensorCheck:
    present = file.tensors
    missing = sorted(set(expected) - set(present))
    unexpected = sorted(set(present) - set(expected))
    worst, worst_error, exact = "", 0.0, not (missing or unexpected)
    for name, tensor in present.items():
        if name not in expected:
            continue
        source = expected[name]()
        stored = tensor.array()
        if stored.shape != source.shape:
            return TensorCheck(len(present), missing, unexpected, name, float("inf"), False)
        error = float(np.abs(stored - source).max())
        exact = exact and error == 0.0
        relative = error / max(float(np.abs(source).max()), 1e-30)
        if relative >= worst_error:
            worst, worst_error = name, relative
    return TensorCheck(len(present), missing, unexpected, worst, worst_error, exact)
