"""OllamaBackend with the real `ollama` client against the fake Ollama server."""

from __future__ import annotations

import asyncio
import json

import ollama
import pytest

from storyloom.core.backend import (
    DIRECTIONS_NUM_PREDICT,
    LENGTH_REACHED,
    AnswerHeld,
    ContextPrepared,
    ContinuationRequest,
    Failed,
    FailureKind,
    Finished,
    GenerationSettings,
    OllamaBackend,
)
from storyloom.core.length import Length
from storyloom.prompting import (
    STOP_STRINGS,
    SYSTEM_PROMPT,
    AnswerDelta,
    Malformation,
    ReasoningDelta,
    continuation_messages,
    render_chatml,
    render_directions_prompt,
)

from fake_ollama import RUNNER_EOF, FakeOllama, Script, straddling_chunks, tagged_reply

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
REASONING = "Maren is afraid of what she will find. She climbs anyway."
ANSWER = "She tied the boat to the iron ring and climbed the steps."


def request(model: str = "smol", **settings) -> ContinuationRequest:
    return ContinuationRequest(STORY, GenerationSettings(model=model, **settings))


async def collect(backend: OllamaBackend, req: ContinuationRequest) -> list:
    try:
        return [event async for event in backend.continue_story(req)]
    finally:
        await backend.aclose()


def run(server: FakeOllama, req: ContinuationRequest) -> list:
    return asyncio.run(collect(OllamaBackend(ollama.AsyncClient(host=server.url)), req))


def text_of(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_streams_reasoning_and_answer_then_stats(fake_ollama: FakeOllama) -> None:
    chunks = straddling_chunks(tagged_reply(REASONING, ANSWER), glue=True)
    fake_ollama.set_script(Script(chunks))
    events = run(fake_ollama, request())
    assert isinstance(events[0], ContextPrepared)
    assert text_of(events, ReasoningDelta) == REASONING
    assert text_of(events, AnswerDelta) == ANSWER
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.stats.output_tokens >= len(chunks)
    assert final.stats.prompt_tokens == fake_ollama.count_tokens(events[0].prompt)
    assert final.stats.done_reason == "stop"
    assert final.stats.malformations == ()
    assert final.stats.warning is None


def test_sends_exactly_the_raw_chatml_request(fake_ollama: FakeOllama) -> None:
    run(fake_ollama, request(num_ctx=8192, num_predict=512, temperature=0.7, seed=3))
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body == {
        "model": "smol",
        "prompt": render_chatml(continuation_messages(STORY)),
        "raw": True,
        "stream": True,
        "truncate": False,
        "options": {
            "num_ctx": 8192,
            "num_predict": 512,
            "stop": list(STOP_STRINGS),
            "temperature": 0.7,
            "seed": 3,
        },
    }


def test_honours_ollama_host(fake_ollama: FakeOllama) -> None:
    """OllamaBackend() with no host uses OLLAMA_HOST (the fixture points it at the fake)."""
    events = asyncio.run(collect(OllamaBackend(), request()))
    assert isinstance(events[-1], Finished)


def test_prefill_continues_inside_the_answer(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_script(Script([" She", " climbed.", "</answer>"]))
    prefill = "<reasoning>An edited plan.</reasoning><answer>"
    req = ContinuationRequest(STORY, GenerationSettings(model="smol"), prefill=prefill)
    events = run(fake_ollama, req)
    assert text_of(events, AnswerDelta) == "She climbed."
    assert text_of(events, ReasoningDelta) == ""
    sent = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)["prompt"]
    assert sent.endswith("<|im_start|>assistant\n" + prefill)


def test_untagged_output_is_all_answer(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_script(Script("She climbed the steps in silence."))
    events = run(fake_ollama, request())
    assert text_of(events, AnswerDelta) == "She climbed the steps in silence."
    assert events[-1].stats.malformations == (Malformation.NO_TAGS,)


def test_unknown_model_says_how_to_pull_it(fake_ollama: FakeOllama) -> None:
    events = run(fake_ollama, request(model="molbal/cra-v1-7b"))
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.kind is FailureKind.MODEL_NOT_FOUND
    assert "ollama pull molbal/cra-v1-7b" in failed.message


def test_server_not_running() -> None:
    backend = OllamaBackend(ollama.AsyncClient(host="http://127.0.0.1:9"))
    failed = asyncio.run(collect(backend, request()))[-1]
    assert isinstance(failed, Failed)
    assert failed.kind is FailureKind.SERVER_UNREACHABLE
    assert "http://127.0.0.1:9" in failed.message


def test_error_line_mid_stream_keeps_what_arrived(fake_ollama: FakeOllama) -> None:
    chunks = ["<reasoning>", "Plan.", "</reasoning>", "<answer>", "She", " climbed", " the"]
    fake_ollama.set_script(Script(chunks, error_after=6))
    events = run(fake_ollama, request())
    assert text_of(events, AnswerDelta) == "She climbed"
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.kind is FailureKind.STREAM_BROKEN
    assert RUNNER_EOF in failed.message


def test_a_stalled_stream_is_closed(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_script(Script(["<answer>", "She", " waited"], stall_after=2))
    events = run(fake_ollama, request(stall_timeout=0.3))
    failed = events[-1]
    assert isinstance(failed, Failed)
    assert failed.kind is FailureKind.STALLED
    assert text_of(events, AnswerDelta) == "She"
    assert fake_ollama.wait_for_disconnect(timeout=5).lines_sent == 2


def test_cancelling_the_consumer_closes_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_script(Script(["<answer>"] + [" word"] * 500, delay=0.01))

    async def scenario() -> int:
        backend = OllamaBackend(ollama.AsyncClient(host=fake_ollama.url))
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for event in backend.continue_story(request()):
                seen += isinstance(event, AnswerDelta)

        task = asyncio.create_task(consume())
        while seen < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()
        return seen

    asyncio.run(scenario())
    disconnect = fake_ollama.wait_for_disconnect(timeout=5)
    assert 3 <= disconnect.lines_sent < 100  # generation stopped long before the 501 lines


def test_a_prompt_larger_than_estimated_is_resent_shorter(fake_ollama: FakeOllama) -> None:
    """With truncate:false Ollama refuses instead of cutting; the backend learns and retries."""
    fake_ollama.token_counter = lambda text: len(text) // 2  # denser than our 3 chars/token
    story = "The sea was calm that evening. " * 400
    req = ContinuationRequest(
        story, GenerationSettings(model="smol", num_ctx=2048, num_predict=256)
    )
    events = run(fake_ollama, req)
    assert isinstance(events[-1], Finished), events[-1]
    prompts = [json.loads(r.body)["prompt"] for r in fake_ollama.requests_to("/api/generate")]
    assert len(prompts) == 2
    assert len(prompts[1]) < len(prompts[0])
    assert events[-1].stats.prompt_tokens <= 2048 - 256
    prepared = [e for e in events if isinstance(e, ContextPrepared)]
    assert prepared[-1].prompt == prompts[1]


def test_silent_truncation_by_an_old_server_is_reported() -> None:
    """Servers before 0.12.6 ignore truncate:false; prompt_eval_count gives them away."""
    backend = OllamaBackend(ollama.AsyncClient(host="http://127.0.0.1:9"))
    prepared = backend.prepare(ContinuationRequest("word " * 4000, GenerationSettings("m")))
    final = {"done": True, "prompt_eval_count": 130, "eval_count": 8, "done_reason": "length"}
    stats = backend._stats(GenerationSettings("m"), prepared, final, ())
    assert stats.warning is not None and "130 prompt tokens" in stats.warning
    assert not backend.calibration.for_model("m").calibrated
    asyncio.run(backend.aclose())


def test_calibration_learns_from_the_final_chunk(fake_ollama: FakeOllama) -> None:
    backend = OllamaBackend(ollama.AsyncClient(host=fake_ollama.url))
    asyncio.run(collect(backend, request()))
    assert backend.calibration.for_model("smol").calibrated


def test_an_answer_that_repeats_the_end_of_the_story_is_trimmed(fake_ollama: FakeOllama) -> None:
    # cra models sometimes start by echoing the last lines, here re-wrapped and with a curly quote
    echo = "Maren  rowed out\nto it at dusk. "
    reply = tagged_reply(REASONING, echo + "She tied the boat to the ring.")
    fake_ollama.set_script(Script(straddling_chunks(reply, glue=True)))
    events = run(fake_ollama, request())
    assert text_of(events, AnswerDelta) == "She tied the boat to the ring."
    assert text_of(events, ReasoningDelta) == REASONING


LONG_ANSWER = " ".join(f"She counted step number {n} of the stair." for n in range(1, 41))


def test_the_length_limit_closes_the_stream_at_a_sentence_end(fake_ollama: FakeOllama) -> None:
    chunks = straddling_chunks(tagged_reply(REASONING, LONG_ANSWER), glue=True)
    fake_ollama.set_script(Script(chunks, delay=0.002))
    events = run(
        fake_ollama, ContinuationRequest(STORY, GenerationSettings("smol"), length=Length.FEW)
    )
    answer = text_of(events, AnswerDelta)
    assert answer == " ".join(f"She counted step number {n} of the stair." for n in range(1, 4))
    assert text_of(events, ReasoningDelta) == REASONING
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.stats.done_reason == LENGTH_REACHED
    assert finished.stats.prompt_tokens == 0  # unknown: Ollama's final chunk never came
    assert finished.stats.malformations == ()
    # The server saw the client leave long before the reply's end: generation stopped.
    disconnect = fake_ollama.wait_for_disconnect(timeout=5)
    assert disconnect.lines_sent < len(chunks) // 2
    assert fake_ollama.generations[-1].outcome == "disconnected"


def test_held_back_text_is_announced(fake_ollama: FakeOllama) -> None:
    """The stream says what it holds back (here, a possible echo of the story's last sentence)
    so that a stop can keep it."""
    fake_ollama.set_script(Script(["<answer>", "Maren", " rowed", " home", "."]))
    events = run(fake_ollama, request())
    held = [e.text for e in events if isinstance(e, AnswerHeld)]
    assert held[:2] == ["Maren", "Maren rowed"]
    assert text_of(events, AnswerDelta) == "Maren rowed home."


def test_suggest_directions_asks_for_one_sentence_each(fake_ollama: FakeOllama) -> None:
    reply = (
        "<reasoning>Keep it eerie.</reasoning><answer>1. A light.\n2. A voice.\n3. A boat.</answer>"
    )
    fake_ollama.set_script(Script(reply))

    async def suggest() -> list[str] | Failed:
        backend = OllamaBackend(ollama.AsyncClient(host=fake_ollama.url))
        try:
            return await backend.suggest_directions(STORY, GenerationSettings("smol", seed=1))
        finally:
            await backend.aclose()

    assert asyncio.run(suggest()) == ["A light.", "A voice.", "A boat."]
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body["prompt"] == render_chatml(
        [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": render_directions_prompt(STORY)},
        ]
    )
    assert body["raw"] is True
    assert body["options"]["num_predict"] == DIRECTIONS_NUM_PREDICT
    assert body["options"]["seed"] == 1


def test_suggest_directions_reports_a_missing_model(fake_ollama: FakeOllama) -> None:
    async def suggest() -> list[str] | Failed:
        backend = OllamaBackend(ollama.AsyncClient(host=fake_ollama.url))
        try:
            return await backend.suggest_directions(STORY, GenerationSettings("absent"))
        finally:
            await backend.aclose()

    failed = asyncio.run(suggest())
    assert isinstance(failed, Failed) and failed.kind is FailureKind.MODEL_NOT_FOUND
