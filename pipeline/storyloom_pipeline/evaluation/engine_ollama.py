"""The Ollama engine: generation through the `ollama` client, in raw mode as the app does.

The prompt is the app's own ChatML (`raw: true`), so no Modelfile template can change what the
model is asked. `num_ctx` is always sent: Ollama's default window (4,096 tokens on a CPU-only
or small-GPU host) would silently drop the middle of an 80-sentence story.

Even so, a prompt of `num_ctx` tokens or more is cut, silently: Ollama keeps its first
`num_keep` tokens and the tail, `num_ctx - (num_ctx - num_keep) // 2` tokens in all, and answers
HTTP 200 with no flag (shared/docs/ollama-reference.md 5.3, transcript 13: 719 tokens -> 130 at
num_ctx 256). The one trace is the final `prompt_eval_count`. This engine sends `num_keep`, so
that length is known (one more for a model that adds a BOS token), and a reply whose prompt
was evaluated at exactly that length is `ChunkTooLong` (skipped by the run) rather than scored
as an answer to the story. The Python client cannot send `truncate: false`, which would make
the server refuse instead.

Ollama cannot score a given text: its API returns the log-probabilities of the tokens a model
generates, never of a text it is handed, so teacher-forced likelihood is not available here.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from storyloom import prompting
from storyloom_pipeline.evaluation.engine import (
    ChunkTooLong,
    EngineError,
    Generation,
    GenerationSettings,
    Score,
    cut_at_stop,
)

TIMEOUT = httpx.Timeout(connect=5.0, read=900.0, write=60.0, pool=5.0)
NUM_KEEP = 4  # Ollama's own default, sent so that the length of a cut prompt is known


def cut_prompt_length(num_ctx: int, num_keep: int = NUM_KEEP, *, bos: bool = False) -> int:
    """The tokens Ollama evaluates of a prompt that reached `num_ctx` (llama_server.go). A
    model that adds a BOS token keeps it on top of `num_keep` (ollama-reference.md 5.3)."""
    keep = num_keep + 1 if bos else num_keep
    return num_ctx - (num_ctx - keep) // 2


class OllamaEngine:
    name = "ollama"
    can_score = False

    def __init__(self, model: str, host: str | None = None) -> None:
        import ollama

        self.model = model
        # trust_env=False: a proxy from the environment must not capture a local server
        self._client = ollama.Client(host=host, timeout=TIMEOUT, trust_env=False)
        self.host = host or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434"  # for messages
        self.digest = self._find_digest()

    def _find_digest(self) -> str:
        import ollama

        try:
            models = self._client.list().models
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as exc:
            raise EngineError(
                f"cannot reach Ollama at {self.host} ({exc}); is `ollama serve` running?"
            ) from exc
        wanted = _qualified(self.model)
        for entry in models:
            if _qualified(entry.model or "") == wanted:
                return entry.digest or ""
        raise EngineError(
            f"Ollama at {self.host} has no model {self.model!r}; `ollama pull {self.model}`"
        )

    def generate(self, prompt: str, settings: GenerationSettings) -> Generation:
        import ollama

        options = {
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
            "num_predict": settings.max_new_tokens,
            "num_ctx": settings.num_ctx,
            "num_keep": NUM_KEEP,
            "stop": list(prompting.STOP_STRINGS),
        }
        try:
            reply = self._client.generate(
                model=self.model, prompt=prompt, raw=True, stream=False, options=options
            )
        except ollama.ResponseError as exc:
            raise EngineError(f"Ollama {self.model}: {exc.error}") from exc
        except (ConnectionError, httpx.HTTPError) as exc:
            raise EngineError(f"Ollama at {self.host}: {type(exc).__name__}: {exc}") from exc
        evaluated = reply.prompt_eval_count
        cut = {cut_prompt_length(settings.num_ctx, bos=bos) for bos in (False, True)}
        if evaluated in cut and _may_exceed(prompt, settings):
            raise ChunkTooLong(
                f"Ollama cut the prompt to {evaluated} tokens: it reached --num-ctx "
                f"{settings.num_ctx}, and the reply answers what was left of it",
                settings.num_ctx,
            )
        text, _ = cut_at_stop(reply.response or "")
        reason = "length" if reply.done_reason == "length" else "stop"
        return Generation(text, reason, reply.eval_count or 0)

    def score(self, prompt: str, prefill: str, target: str) -> Score:
        raise EngineError("Ollama returns log-probabilities of generated tokens only")

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "host": self.host, "digest": self.digest}

    def close(self) -> None:
        self._client.close()


def _may_exceed(prompt: str, settings: GenerationSettings) -> bool:
    """Whether `prompt` can be num_ctx tokens long: no tokenizer makes more tokens than the
    text has UTF-8 bytes, so a shorter prompt evaluated at the cut length is simply that long."""
    return len(prompt.encode()) >= settings.num_ctx


def _qualified(name: str) -> str:
    """`smol` and `smol:latest` are the same model."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
