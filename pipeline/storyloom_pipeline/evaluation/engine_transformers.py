"""The transformers engine: a model folder or Hub id, optionally with a peft adapter.

Scoring is one forward pass over prompt + target that computes logits only for the target's
positions (`logits_to_keep`): a 152k-word vocabulary times a 3,000-token prompt would
otherwise be 1.8 GB of logits per chunk. Generation is `model.generate` with the prompt
format's stop strings, greedy unless a temperature is set.

Each chunk's prompt is run three times (to generate, then to score after `<answer>` and after
the reasoning), and on real chunks it is most of the tokens, so the KV cache of the last
sequence run is kept and its common prefix with the next one is not computed again.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from storyloom import prompting
from storyloom_pipeline.base_model import (
    ModelSourceError,
    load_causal_lm,
    load_tokenizer,
    resolve,
)
from storyloom_pipeline.evaluation.engine import (
    EngineError,
    Generation,
    GenerationSettings,
    Score,
    cut_at_stop,
    first_target_token,
)
from storyloom_pipeline.evaluation.models import ModelSpec
from storyloom_pipeline.train.examples import encode_turn, hf_tokenize


class TransformersEngine:
    name = "transformers"
    can_score = True

    def __init__(
        self,
        spec: ModelSpec,
        *,
        device: str = "auto",
        dtype: str = "auto",
        load_in_4bit: bool = False,
        threads: int | None = None,
    ) -> None:
        import torch

        self._torch = torch
        self.device = (
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        self.dtype = _dtype(torch, dtype, self.device)
        self.load_in_4bit = load_in_4bit
        self.spec = spec
        try:
            source = resolve(spec.ref)
            self.tokenizer = load_tokenizer(source)
            self._tokenize = hf_tokenize(self.tokenizer)
            model = load_causal_lm(source, **self._load_options())
        except (ModelSourceError, OSError, ValueError) as exc:
            raise EngineError(f"cannot load {spec.ref} with transformers: {exc}") from exc
        if spec.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, spec.adapter)
            except (OSError, ValueError) as exc:
                raise EngineError(f"cannot load the adapter {spec.adapter}: {exc}") from exc
        if not load_in_4bit:
            model.to(self.device)
        self.model = model.eval()
        # torch's thread count is per process: set for this engine, given back on close().
        # Fewer threads than cores is much faster on a CPU that other work shares: OpenMP
        # threads spin while they wait for each other.
        self._threads_before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        eos = self.model.generation_config.eos_token_id
        self._eos = {eos} if isinstance(eos, int) else set(eos or [self.tokenizer.eos_token_id])
        self._prefix = PrefixCache(_cache_argument(self.model))

    def _load_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"dtype": self.dtype}
        if self.load_in_4bit:  # a QLoRA adapter's base, as it was trained
            from transformers import BitsAndBytesConfig

            options["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=self.dtype,
            )
            options["device_map"] = {"": self.device}
        return options

    def score(self, prompt: str, prefill: str, target: str) -> Score:
        torch = self._torch
        reply = prefill + target
        prompt_ids, reply_ids = encode_turn(self._tokenize, prompt, reply)
        spans = self.tokenizer(reply, add_special_tokens=False, return_offsets_mapping=True)
        ends = [end for _, end in spans["offset_mapping"]]  # characters of the reply
        if len(ends) != len(reply_ids):
            raise EngineError(f"{self.spec.ref}: the tokenizer gives no offset per token")
        target_ids = reply_ids[first_target_token(ends, len(prefill)) :]
        if not target_ids:
            return Score(0.0, 0)
        ids = prompt_ids + reply_ids
        # logits for the last len(target)+1 positions: the first predicts target[0]; the very
        # last (after the target) is not needed
        keep = len(target_ids) + 1
        with torch.inference_mode(), self._prefix.use(ids, keep) as (start, cached):
            new = torch.tensor([ids[start:]], device=self.device)
            out = self.model(input_ids=new, use_cache=True, logits_to_keep=keep, **cached)
            self._prefix.keep(out, ids)
            logprobs = torch.log_softmax(out.logits[0, :-1].float(), dim=-1)
            targets = torch.tensor(target_ids, device=self.device)
            picked = logprobs.gather(1, targets[:, None])
        return Score(float(-picked.sum()), len(target_ids))

    def generate(self, prompt: str, settings: GenerationSettings) -> Generation:
        torch = self._torch
        from transformers import GenerationConfig

        prompt_ids, _ = encode_turn(self._tokenize, prompt)
        ids = torch.tensor([prompt_ids], device=self.device)
        sample = settings.temperature > 0
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            do_sample=sample,
            temperature=settings.temperature if sample else None,
            top_p=settings.top_p if sample else None,
            top_k=None,
            eos_token_id=sorted(self._eos),
            pad_token_id=self.tokenizer.pad_token_id or min(self._eos),
            stop_strings=list(prompting.STOP_STRINGS),
            return_dict_in_generate=True,
        )
        torch.manual_seed(settings.seed)
        with torch.inference_mode(), self._prefix.use(prompt_ids, 1) as (_, cached):
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                generation_config=config,
                tokenizer=self.tokenizer,
                **cached,
            )
            sequence = out.sequences[0].tolist()
            self._prefix.keep(out, sequence)
        new = sequence[len(prompt_ids) :]
        text, stopped = cut_at_stop(self.tokenizer.decode(new, skip_special_tokens=False))
        ended = stopped or bool(new and new[-1] in self._eos) or len(new) < settings.max_new_tokens
        return Generation(text, "stop" if ended else "length", len(new))

    def describe(self) -> dict[str, Any]:
        import transformers

        info = {
            "engine": self.name,
            "transformers": transformers.__version__,
            "torch": self._torch.__version__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "load_in_4bit": self.load_in_4bit,
            "threads": self._torch.get_num_threads(),
        }
        if self.spec.adapter:
            import peft

            info["peft"] = peft.__version__
        return info

    def close(self) -> None:
        self._prefix.clear()
        del self.model
        gc.collect()
        self._torch.set_num_threads(self._threads_before)
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


def _dtype(torch: Any, name: str, device: str) -> Any:
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise EngineError(f"unknown dtype {name!r} (float32, bfloat16, float16 or auto)")
    return dtype


class PrefixCache:
    """The KV cache of the last token sequence a model ran, offered for the next one's longest
    common prefix (the way llama.cpp's server reuses a slot's cache)."""

    def __init__(self, argument: str) -> None:
        self._argument = argument  # the keyword forward() and generate() take it by
        self._cache: Any = None
        self._ids: list[int] = []  # the tokens whose keys and values the cache holds

    @contextmanager
    def use(self, ids: list[int], compute: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(tokens of `ids` already cached, keyword arguments to pass them on): never more
        than len(ids) - compute, so the last `compute` positions are run and give logits.
        The caller hands the grown cache back with `keep`; if it fails, the cache is dropped
        (a half-extended cache no longer matches any token list)."""
        common = 0
        for cached, wanted in zip(self._ids, ids, strict=False):
            if cached != wanted:
                break
            common += 1
        common = min(common, len(ids) - compute)
        if self._cache is None or common <= 0:
            self.clear()
            common = 0
        elif (extra := self._cache.get_seq_length() - common) > 0:
            try:
                self._cache.crop(-extra)
            except (ValueError, NotImplementedError, AttributeError):  # a cache that cannot
                self.clear()
                common = 0
        try:
            yield common, ({self._argument: self._cache} if common else {})
        except BaseException:
            self.clear()
            raise

    def keep(self, output: Any, ids: list[int]) -> None:
        """Hold the cache of a forward() or generate() `output` that ran `ids`."""
        self._cache = getattr(output, self._argument)
        self._ids = list(ids[: self._cache.get_seq_length()])

    def clear(self) -> None:
        self._cache, self._ids = None, []


def _cache_argument(model: Any) -> str:
    """transformers 5 renamed `past_key_values` to `cache` in forward() and in its outputs (the
    old name warns, then goes); use whichever name this version's model takes."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
