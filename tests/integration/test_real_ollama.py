"""The backend against a real Ollama: streaming, stats, cancellation, no silent truncation."""

from __future__ import annotations

import asyncio

import ollama

from storyloom.core.backend import (
    ContextPrepared,
    ContinuationRequest,
    Failed,
    Finished,
    GenerationSettings,
    OllamaBackend,
)
from storyloom.prompting import AnswerDelta, ReasoningDelta

STORY = "The lighthouse had been dark for eleven years when Maren rowed out to it."


def test_continuation_streams_and_reports_real_stats(real_ollama) -> None:
    host, model = real_ollama

    async def scenario() -> list:
        backend = OllamaBackend(ollama.AsyncClient(host=host))
        settings = GenerationSettings(model=model, num_ctx=2048, num_predict=64, seed=1)
        try:
            return [e async for e in backend.continue_story(ContinuationRequest(STORY, settings))]
        finally:
            await backend.aclose()

    events = asyncio.run(scenario())
    assert isinstance(events[0], ContextPrepared)
    assert any(isinstance(e, AnswerDelta | ReasoningDelta) for e in events)
    final = events[-1]
    assert isinstance(final, Finished), final
    assert final.stats.prompt_tokens > 20
    assert final.stats.warning is None


def test_unknown_model_is_a_clear_failure(real_ollama) -> None:
    host, _ = real_ollama

    async def scenario():
        backend = OllamaBackend(ollama.AsyncClient(host=host))
        request = ContinuationRequest(STORY, GenerationSettings(model="no-such-model-xyz"))
        try:
            return [e async for e in backend.continue_story(request)][-1]
        finally:
            await backend.aclose()

    failed = asyncio.run(scenario())
    assert isinstance(failed, Failed)
    assert "ollama pull no-such-model-xyz" in failed.message
