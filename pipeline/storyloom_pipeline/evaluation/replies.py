"""One model's reply to one held-out chunk, and the likelihood of the true continuation.

The prompt is exactly the app's: `render_chatml(continuation_messages(context))`. The model
writes its reply; the app's parser reads it. Then, on engines that can score, the human
continuation (the chunk's last 20 sentences, the text the model was trained to write) is
scored under teacher forcing twice:

- directly after `<answer>`: the prompt, then `<answer>` as the first words of the reply;
- after the model's own reasoning: the prompt, then the reply exactly as the model wrote it up
  to and including its `<answer>` tag. A reply that never opened its answer (cut off by the
  token limit, or malformed) is followed by the reasoning the parser found, closed with
  `</reasoning><answer>`.

A chunk that does not fit the model's context window (`ChunkTooLong`) gets a payload that says
so (`skipped`) instead: it is journaled like a reply, and the report leaves the chunk out of
every comparison and counts it.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from storyloom import prompting
from storyloom_pipeline.evaluation.engine import ChunkTooLong, Engine, GenerationSettings
from storyloom_pipeline.reasoning.chunk_source import Chunk

REPLY_KIND = "reply"
# How replies are tokenized and scored (engine.py); part of every reply's journal key, so a
# journal from before a change is not mixed into the new numbers. 2: the reply in one piece,
# the straddling token scored as the target's, the prompt with the tokenizer's special tokens.
# 3: a chunk too long for the window is skipped; an Ollama journal of 2 may hold replies to
# prompts the server cut.
SCORING_VERSION = 3


def chunk_prompt(chunk: Chunk) -> str:
    return prompting.render_chatml(prompting.continuation_messages(chunk.context))


def reply_key(model: dict[str, Any], chunk: Chunk, settings: GenerationSettings) -> str:
    """Names a reply by everything it depends on: the model (its fingerprint and the engine
    options that change its numbers), the generation settings, the prompt and the scored
    text. Not by its role: the same model as baseline in another run reuses its replies."""
    payload = json.dumps(
        [
            prompting.PROMPT_FORMAT_VERSION,
            SCORING_VERSION,
            model,
            settings.describe(),
            chunk_prompt(chunk),
            chunk.continuation,
        ],
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:20]
    return f"reply|{chunk.chunk_id}|{digest}"


def reasoning_prefill(raw: str, reasoning: str) -> tuple[str, str]:
    """What follows the prompt before the scored continuation, and where it came from:
    "own" (the reply verbatim up to its `<answer>`) or "rebuilt" (from the parsed reasoning)."""
    at = raw.lower().find(prompting.ANSWER_OPEN)
    if at >= 0:
        return raw[: at + len(prompting.ANSWER_OPEN)], "own"
    rebuilt = prompting.REASONING_OPEN + reasoning + prompting.REASONING_CLOSE
    return rebuilt + prompting.ANSWER_OPEN, "rebuilt"


def make_reply(engine: Engine, chunk: Chunk, settings: GenerationSettings) -> dict[str, Any]:
    """Generate, parse and (where the engine can) score; the journal's payload."""
    try:
        return _answer_and_score(engine, chunk, settings)
    except ChunkTooLong as exc:
        return {
            "chunk_id": chunk.chunk_id,
            "skipped": exc.reason,
            "detail": str(exc),
            "engine": engine.describe(),
        }


def _answer_and_score(engine: Engine, chunk: Chunk, settings: GenerationSettings) -> dict[str, Any]:
    prompt = chunk_prompt(chunk)
    started = time.perf_counter()
    generation = engine.generate(prompt, settings)
    generate_seconds = time.perf_counter() - started
    parsed = prompting.parse_response(generation.text)
    payload: dict[str, Any] = {
        "chunk_id": chunk.chunk_id,
        "text": generation.text,
        "finish_reason": generation.finish_reason,
        "generated_tokens": generation.tokens,
        "generate_seconds": generate_seconds,
        "reasoning": parsed.reasoning,
        "answer": parsed.answer,
        "malformations": [str(m) for m in parsed.malformations],
        "engine": engine.describe(),
    }
    if engine.can_score:
        direct = engine.score(prompt, prompting.ANSWER_OPEN, chunk.continuation)
        prefill, source = reasoning_prefill(generation.text, parsed.reasoning)
        after = engine.score(prompt, prefill, chunk.continuation)
        payload.update(
            nll_direct=direct.nll,
            tokens_direct=direct.tokens,
            nll_after_reasoning=after.nll,
            tokens_after_reasoning=after.tokens,
            reasoning_prefill=source,
        )
    return payload
