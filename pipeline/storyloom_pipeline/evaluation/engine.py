"""What the evaluation asks of a model, whichever engine runs it.

Two things: `generate` a reply to a prompt (the raw ChatML the app sends), and `score` a given
text (the target) after a prompt and the start of the reply (the prefill, e.g. `<answer>`): the
summed negative log-likelihood of the target's tokens under teacher forcing. Both tokenize as
training does (`train.examples.encode_turn`): the prompt with the tokenizer's special tokens,
the reply (prefill + target) on its own, in one piece. A BPE token may then straddle the
prefill and the target (Qwen2's `>The` after `<answer>`); it is scored as the target's first
token, as the model learnt it, rather than split into `>` and `The`, a sequence it never saw.
Ollama cannot score (`can_score` is False): its API returns log-probabilities of generated
tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from storyloom import prompting


class EngineError(RuntimeError):
    """A model that cannot be loaded or run; the message says what to do about it."""


class ChunkTooLong(EngineError):
    """A chunk whose prompt and reply (or scored text) do not fit the context window.

    Not fatal: the run skips that chunk for that model and the report says so, rather than
    stopping the evaluation or scoring a reply to a prompt Ollama silently cut short. The
    message names `--num-ctx`, the option that decides the window."""

    def __init__(self, detail: str, num_ctx: int) -> None:
        super().__init__(f"{detail}; a larger --num-ctx would hold it")
        self.num_ctx = num_ctx

    @property
    def reason(self) -> str:
        """What the report counts skipped chunks by."""
        return f"longer than --num-ctx {self.num_ctx}"


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 1536  # the reasoning and twenty sentences of cra-v1 fit in ~1,000
    temperature: float = 0.0  # greedy: the same reply on every run (sampling: set a seed)
    top_p: float = 1.0
    seed: int = 0
    # the context window of Ollama (whose default would silently cut an 80-sentence prompt)
    # and of llama.cpp, which must hold the prompt and the reply or the scored text
    num_ctx: int = 8192

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, not {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be 0 or more, and top_p in (0, 1]")
        if self.num_ctx < 512:
            raise ValueError(
                f"--num-ctx {self.num_ctx}: a window of under 512 tokens holds no chunk"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "num_ctx": self.num_ctx,
            "stop": list(prompting.STOP_STRINGS),
        }


@dataclass(frozen=True)
class Generation:
    text: str  # the reply, up to (not including) a stop string
    finish_reason: str  # "stop" (end of turn) or "length" (max_new_tokens reached)
    tokens: int


@dataclass(frozen=True)
class Score:
    nll: float  # summed negative log-likelihood of the target's tokens, in nats
    tokens: int  # from the one that straddles the prefill and the target, if one does


def first_target_token(token_ends: Sequence[int], boundary: int) -> int:
    """The index of the reply's first token that holds any of the target: the first whose
    end (in characters or bytes of the reply, like `boundary`, where the prefill ends) lies
    past the boundary; len(token_ends) when none does (an empty target)."""
    return next((i for i, end in enumerate(token_ends) if end > boundary), len(token_ends))


class Engine(Protocol):
    name: str
    can_score: bool

    def generate(self, prompt: str, settings: GenerationSettings) -> Generation: ...

    def score(self, prompt: str, prefill: str, target: str) -> Score: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def cut_at_stop(text: str) -> tuple[str, bool]:
    """`text` up to the first stop string, and whether there was one."""
    cuts = [i for i in (text.find(stop) for stop in prompting.STOP_STRINGS) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
