"""The backend routed by profile: generic chat models over /api/chat, all options on the wire,
and the context usage the status bar's meter shows."""

from __future__ import annotations

import asyncio
import json

import httpx
import ollama
import pytest

from storyloom.core.backend import (
    ContextPrepared,
    ContinuationRequest,
    Failed,
    FailureKind,
    Finished,
    GenerationSettings,
    OllamaBackend,
)
from storyloom.core.context_window import ContextLevel, ContextUsage
from storyloom.core.profiles import CRA_PROFILE, Profile, RequestStyle
from storyloom.prompting import (
    STOP_STRINGS,
    AnswerDelta,
    ReasoningDelta,
    continuation_messages,
    generic_messages,
    render_chatml,
)

from fake_ollama import FakeOllama, Script, split_tokens

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
GENERIC = Profile("generic", RequestStyle.CHAT, "think", guided=True)
PROSE = "She tied the boat to the iron ring and climbed."


def request(profile: Profile = GENERIC, **settings) -> ContinuationRequest:
    settings.setdefault("model", "smol")
    return ContinuationRequest(STORY, GenerationSettings(**settings), profile=profile)


def run(backend: OllamaBackend, req: ContinuationRequest) -> list:
    async def collect() -> list:
        try:
            return [event async for event in backend.continue_story(req)]
        finally:
            await backend.aclose()

    return asyncio.run(collect())


def against(server: FakeOllama) -> OllamaBackend:
    return OllamaBackend(ollama.AsyncClient(host=server.url))


def text_of(events: list, kind: type) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def test_generic_profile_sends_chat_messages(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_script(Script(split_tokens(PROSE)))
    req = request(num_ctx=8192, num_predict=512, temperature=0.6, top_k=30, keep_alive="10m")
    events = run(against(fake_ollama), req)
    assert fake_ollama.requests_to("/api/generate") == []
    body = json.loads(fake_ollama.requests_to("/api/chat")[-1].body)
    assert body == {
        "model": "smol",
        "messages": generic_messages(STORY),
        "stream": True,
        "truncate": False,
        "options": {"num_ctx": 8192, "num_predict": 512, "temperature": 0.6, "top_k": 30},
        "keep_alive": "10m",
    }
    assert text_of(events, AnswerDelta) == PROSE
    assert text_of(events, ReasoningDelta) == ""
    final = events[-1]
    assert isinstance(final, Finished)
    assert final.stats.malformations == ()  # prose without tags is what a chat model writes
    assert final.stats.prompt_tokens == fake_ollama.count_tokens(events[0].prompt)


def test_guidance_reaches_the_chat_messages(fake_ollama: FakeOllama) -> None:
    req = ContinuationRequest(
        STORY, GenerationSettings("smol"), guidance="The lamp  lights itself.", profile=GENERIC
    )
    run(against(fake_ollama), req)
    body = json.loads(fake_ollama.requests_to("/api/chat")[-1].body)
    assert body["messages"] == generic_messages(STORY, "The lamp lights itself.")


def test_an_inline_think_block_goes_to_the_reasoning_panel(fake_ollama: FakeOllama) -> None:
    reply = "<think>She must not turn back.</think>\n\n" + PROSE
    fake_ollama.set_script(Script(split_tokens(reply)))
    events = run(against(fake_ollama), request())
    assert text_of(events, ReasoningDelta) == "She must not turn back."
    assert text_of(events, AnswerDelta) == PROSE


def test_ollama_thinking_field_goes_to_the_reasoning_panel() -> None:
    """Thinking models on /api/chat stream their thoughts in message.thinking."""
    lines = [
        {"message": {"role": "assistant", "content": "", "thinking": "Keep it "}, "done": False},
        {"message": {"role": "assistant", "content": "", "thinking": "quiet."}, "done": False},
        {"message": {"role": "assistant", "content": "She climbed."}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 60,
            "eval_count": 5,
        },
    ]

    async def handler(http_request: httpx.Request) -> httpx.Response:
        assert http_request.url.path == "/api/chat"
        body = "".join(json.dumps(line) + "\n" for line in lines)
        return httpx.Response(200, text=body, headers={"content-type": "application/x-ndjson"})

    client = ollama.AsyncClient(host="http://ollama.test", transport=httpx.MockTransport(handler))
    events = run(OllamaBackend(client), request())
    assert text_of(events, ReasoningDelta) == "Keep it quiet."
    assert text_of(events, AnswerDelta) == "She climbed."
    assert isinstance(events[-1], Finished)


def test_all_options_go_to_the_raw_request(fake_ollama: FakeOllama) -> None:
    req = request(
        CRA_PROFILE,
        num_ctx=8192,
        num_predict=512,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repeat_penalty=1.07,
        seed=3,
        keep_alive=-1,
    )
    run(against(fake_ollama), req)
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
            "temperature": 0.7,
            "top_p": 0.8,
            "top_k": 20,
            "repeat_penalty": 1.07,
            "seed": 3,
            "stop": list(STOP_STRINGS),
        },
        "keep_alive": -1,
    }


def test_a_missing_chat_model_fails_the_same_way(fake_ollama: FakeOllama) -> None:
    failed = run(against(fake_ollama), request(model="qwen2.5:7b"))[-1]
    assert isinstance(failed, Failed)
    assert failed.kind is FailureKind.MODEL_NOT_FOUND
    assert "ollama pull qwen2.5:7b" in failed.message


def test_an_overlong_chat_prompt_is_resent_shorter(fake_ollama: FakeOllama) -> None:
    fake_ollama.token_counter = lambda text: len(text) // 2  # denser than our 3 chars/token
    req = ContinuationRequest(
        "The sea was calm that evening. " * 400,
        GenerationSettings(model="smol", num_ctx=2048, num_predict=256),
        profile=GENERIC,
    )
    events = run(against(fake_ollama), req)
    assert isinstance(events[-1], Finished), events[-1]
    sent = [json.loads(r.body)["messages"] for r in fake_ollama.requests_to("/api/chat")]
    assert len(sent) == 2
    assert len(sent[1][1]["content"]) < len(sent[0][1]["content"])
    prepared = [e for e in events if isinstance(e, ContextPrepared)]
    assert list(prepared[-1].messages) == sent[1]


def test_a_prefill_needs_the_raw_style() -> None:
    backend = OllamaBackend(ollama.AsyncClient(host="http://127.0.0.1:9"))
    req = ContinuationRequest(STORY, GenerationSettings("m"), prefill="<think>", profile=GENERIC)
    with pytest.raises(ValueError, match="raw-cra"):
        backend.prepare(req)
    asyncio.run(backend.aclose())


def test_context_usage_warns_before_the_story_is_cut() -> None:
    backend = OllamaBackend(ollama.AsyncClient(host="http://127.0.0.1:9"))
    short = backend.context_usage(request(CRA_PROFILE, model="m", num_ctx=4096, num_predict=512))
    assert short.level is ContextLevel.OK
    assert short.reserved_tokens == 512 and short.num_ctx == 4096
    assert short.free_tokens == 4096 - 512 - short.prompt_tokens
    long_story = "word " * 2000  # about 3,430 estimated tokens of the 3,584 available
    near = backend.context_usage(
        ContinuationRequest(long_story, GenerationSettings("m", num_ctx=4096, num_predict=512))
    )
    assert near.level is ContextLevel.WARNING, near
    too_long = backend.context_usage(
        ContinuationRequest(long_story * 2, GenerationSettings("m", num_ctx=4096, num_predict=512))
    )
    assert too_long.level is ContextLevel.CUT
    asyncio.run(backend.aclose())


def test_usage_levels() -> None:
    assert ContextUsage(1000, 2048, 16384, True).level is ContextLevel.OK
    assert ContextUsage(12800, 2048, 16384, True).level is ContextLevel.WARNING  # < 10 % free
    assert ContextUsage(500, 2048, 16384, False).level is ContextLevel.CUT
    assert ContextUsage(20000, 2048, 16384, True).free_tokens == 0
