"""FakeOllama driven by the real ``ollama`` client: generate, chat, errors, truncation, bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import ollama
import pytest

from fake_ollama import FakeOllama, PromptInfo, Script, running_fake_ollama

CHATML = "<|im_start|>user\nContinue: The door creaked.<|im_end|>\n<|im_start|>assistant\n"
LONG_PROMPT = "word " * 299 + "end"  # 300 tokens for the default counter


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with running_fake_ollama() as fake:
        yield fake
    assert fake.internal_errors == []


def test_sync_raw_stream_yields_scripted_deltas_then_a_final_chunk(server: FakeOllama) -> None:
    server.set_script(Script(["The", " door", " cre", "aked", "."]))
    client = ollama.Client(host=server.url)

    parts = list(client.generate("smol", CHATML, raw=True, stream=True))

    assert [part.response for part in parts[:-1]] == ["The", " door", " cre", "aked", "."]
    final = parts[-1]
    assert (final.done, final.response, final.done_reason) == (True, "", "stop")
    assert final.eval_count == 6  # five tokens and the EOS, as Ollama counts them (07)
    assert final.prompt_eval_count == server.count_tokens(CHATML)
    assert final.context is None  # raw mode sends no context (07)
    assert final.total_duration >= final.load_duration + final.eval_duration
    assert all(not part.done for part in parts[:-1])


def test_async_raw_stream_and_the_exact_request_body(server: FakeOllama) -> None:
    server.set_script(Script("<reasoning>Quiet.</reasoning><answer>It opened.</answer>"))

    async def consume() -> list[ollama.GenerateResponse]:
        client = ollama.AsyncClient(host=server.url)
        options = {"num_ctx": 2048, "temperature": 0.7, "stop": ["<|im_end|>"]}
        stream = await client.generate("smol", CHATML, raw=True, stream=True, options=options)
        return [part async for part in stream]

    parts = asyncio.run(consume())

    text = "".join(part.response for part in parts)
    assert text == "<reasoning>Quiet.</reasoning><answer>It opened.</answer>"
    assert parts[-1].done_reason == "stop"
    # The client's pydantic model puts stream and options before prompt (exclude_none).
    body = server.requests_to("/api/generate")[-1].body
    assert body == (
        b'{"model":"smol","stream":true,"options":{"num_ctx":2048,"temperature":0.7,'
        b'"stop":["<|im_end|>"]},"prompt":"' + json.dumps(CHATML)[1:-1].encode() + b'","raw":true}'
    )


def test_non_streaming_generate_concatenates_and_honours_num_predict(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)

    reply = client.generate("smol", "Once upon a time", options={"num_predict": 12})

    # The default script is smol's recorded continuation (06, 08).
    assert reply.response == "The world of magic is a realm of wonder and enchant"
    assert (reply.done_reason, reply.eval_count) == ("length", 12)
    assert len(reply.context) == reply.prompt_eval_count + 12
    request = server.requests_to("/api/generate")[-1]
    assert request.json["stream"] is False
    assert request.header("Content-Type") == "application/json"


def test_stop_strings_cut_the_reply_and_are_not_sent(server: FakeOllama) -> None:
    server.set_script(Script(["Fine", ".", "<|im", "_end|>", "never"]))
    client = ollama.Client(host=server.url)

    parts = list(client.generate("smol", "hi", stream=True, options={"stop": ["<|im_end|>"]}))

    assert "".join(part.response for part in parts) == "Fine."
    assert parts[-1].done_reason == "stop"


def test_chat_streams_message_deltas(server: FakeOllama) -> None:
    server.set_script(Script(["The", " door", "."]), model="smol")
    client = ollama.Client(host=server.url)
    messages = [
        {"role": "system", "content": "You are a writer's assistant."},
        {"role": "user", "content": "Continue: The door creaked."},
    ]

    parts = list(client.chat("smol", messages=messages, stream=True))

    assert [part.message.content for part in parts] == ["The", " door", ".", ""]
    assert all(part.message.role == "assistant" for part in parts)
    assert parts[-1].done_reason == "stop"
    assert server.generations[-1].prompt.startswith("<|im_start|>system\nYou are")


def test_a_script_function_sees_the_prompt(server: FakeOllama) -> None:
    seen: list[PromptInfo] = []

    def echo(info: PromptInfo) -> Script:
        seen.append(info)
        return Script([f"You said {len(info.messages)} message(s)."])

    server.set_script(echo)
    reply = ollama.Client(host=server.url).chat("smol", messages=[{"role": "user", "content": "x"}])

    assert reply.message.content == "You said 1 message(s)."
    assert seen[0].endpoint == "chat" and seen[0].model == "smol"


def test_queued_scripts_answer_one_request_each(server: FakeOllama) -> None:
    server.queue_script(["first"])
    server.queue_script(["second"])
    client = ollama.Client(host=server.url)

    replies = [client.generate("smol", "x", raw=True).response for _ in range(3)]

    assert replies[:2] == ["first", "second"]
    assert replies[2].startswith("The world")  # back to the default script


@pytest.mark.parametrize("endpoint", ["generate", "chat", "show"])
def test_unknown_model_is_a_404_response_error(server: FakeOllama, endpoint: str) -> None:
    client = ollama.Client(host=server.url)
    calls = {
        "generate": lambda: list(client.generate("no-such-model", "x", stream=True)),
        "chat": lambda: client.chat("no-such-model", messages=[{"role": "user", "content": "x"}]),
        "show": lambda: client.show("no-such-model"),
    }

    with pytest.raises(ollama.ResponseError) as caught:
        calls[endpoint]()

    assert caught.value.status_code == 404
    expected = "no-such-model:latest" if endpoint == "show" else "no-such-model"  # 10
    assert caught.value.error == f"model '{expected}' not found"


def test_async_unknown_model_raises_before_any_chunk(server: FakeOllama) -> None:
    async def consume() -> None:
        stream = await ollama.AsyncClient(host=server.url).generate("nope", "x", stream=True)
        async for _ in stream:
            pytest.fail("no chunk expected")

    with pytest.raises(ollama.ResponseError) as caught:
        asyncio.run(consume())
    assert caught.value.status_code == 404


def test_mid_stream_error_arrives_after_the_earlier_chunks(server: FakeOllama) -> None:
    server.set_script(Script(["a", "b", "c", "d", "e", "f"], error_after=3))
    received: list[str] = []

    async def consume() -> None:
        stream = await ollama.AsyncClient(host=server.url).generate("smol", "x", stream=True)
        async for part in stream:
            received.append(part.response)

    with pytest.raises(ollama.ResponseError) as caught:
        asyncio.run(consume())

    assert received == ["a", "b", "c"]
    assert caught.value.status_code == -1  # an error line under HTTP 200 (23)
    assert caught.value.error == "an error was encountered while running the model: unexpected EOF"
    assert server.generations[-1].outcome == "error"


def test_a_runner_error_without_streaming_is_a_500(server: FakeOllama) -> None:
    server.set_script(Script(["a", "b"], error_after=1))

    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=server.url).generate("smol", "x")

    assert caught.value.status_code == 500  # 23 exchange 4


def test_silent_truncation_reports_a_reduced_prompt_eval_count(server: FakeOllama) -> None:
    assert server.count_tokens(LONG_PROMPT) == 300
    client = ollama.Client(host=server.url)

    options = {"num_ctx": 256, "num_predict": 4}
    reply = client.generate("smol", LONG_PROMPT, raw=True, options=options)

    # 256 - (256 - 4) // 2 = 130, like 719 tokens at num_ctx 256 in 13-truncation.
    assert reply.prompt_eval_count == 130
    record = server.generations[-1]
    assert (record.prompt_tokens, record.prompt_eval_count, record.truncated) == (300, 130, True)
    assert record.num_ctx == 256


def test_truncation_uses_the_pluggable_counter() -> None:
    with running_fake_ollama(token_counter=lambda text: 719) as server:
        reply = ollama.Client(host=server.url).generate("smol", "x", options={"num_ctx": 256})
    assert reply.prompt_eval_count == 130
    assert server.generations[-1].prompt_tokens == 719


def test_prompts_that_fit_are_not_truncated(server: FakeOllama) -> None:
    reply = ollama.Client(host=server.url).generate("smol", "short", options={"num_ctx": 256})
    assert reply.prompt_eval_count == server.generations[-1].prompt_tokens
    assert server.generations[-1].truncated is False


def test_truncate_false_and_shift_false_refuse_instead(server: FakeOllama) -> None:
    # The client has no truncate/shift parameters; the app sends them through _request.
    client = ollama.Client(host=server.url)
    base = {"model": "smol", "prompt": LONG_PROMPT, "raw": True, "options": {"num_ctx": 256}}

    def send(extra: dict[str, bool]) -> ollama.ResponseError:
        with pytest.raises(ollama.ResponseError) as caught:
            list(client._request(dict, "POST", "/api/generate", json=base | extra, stream=True))
        return caught.value

    refused = send({"truncate": False})
    assert refused.status_code == 400
    inner = json.loads(refused.error)["error"]  # llama-server's error, JSON inside the string
    assert inner["message"].startswith("request (300 tokens) exceeds the available context")
    assert (inner["n_prompt_tokens"], inner["n_ctx"]) == (300, 256)
    assert send({"shift": False}).error.startswith("the prompt is longer than the context length")
    assert [g.outcome for g in server.generations] == ["rejected", "rejected"]


def test_load_and_unload_with_an_empty_prompt(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)

    loaded = client.generate("smol", "", options={"num_ctx": 2048})
    running = client.ps().models
    unloaded = client.generate("smol", "", keep_alive=0)

    assert (loaded.done, loaded.done_reason, loaded.eval_count) == (True, "load", None)
    assert [(m.model, m.context_length, m.size_vram) for m in running] == [("smol:latest", 2048, 0)]
    assert unloaded.done_reason == "unload"
    assert client.ps().models == []


def test_ps_reports_the_effective_context_length(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)
    client.generate("smol", "x", raw=True)
    assert client.ps().models[0].context_length == 4096  # the server default (README)
    server.add_model("big", context_length=2048, family="llama")
    client.generate("big", "x", raw=True, options={"num_ctx": 8192})
    assert {m.model: m.context_length for m in client.ps().models}["big:latest"] == 2048


@pytest.mark.parametrize("think", [True, "high"])
def test_thinking_on_a_model_without_it_is_a_400(server: FakeOllama, think: bool | str) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=server.url).generate("smol", "x", think=think)
    assert (caught.value.status_code, caught.value.error) == (
        400,
        '"smol" does not support thinking',
    )


def test_bad_keep_alive_and_option_types(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as bad_duration:
        client.generate("smol", "x", keep_alive="-1")
    with pytest.raises(ollama.ResponseError) as bad_option:
        client.generate("smol", "x", options={"num_ctx": "big"})
    assert (bad_duration.value.status_code, bad_duration.value.error) == (
        400,
        'time: missing unit in duration "-1"',
    )
    assert (bad_option.value.status_code, bad_option.value.error) == (
        500,
        'option "num_ctx" must be of type integer',
    )


def test_raw_with_system_is_refused(server: FakeOllama) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=server.url).generate("smol", "x", raw=True, system="s")
    assert caught.value.error == "raw mode does not support template, system, or context"


def test_tags_show_and_an_added_model(server: FakeOllama) -> None:
    server.add_model(
        "molbal/cra-v1-7b",
        family="qwen2",
        parameter_size="7.6B",
        quantization_level="Q4_K_M",
        context_length=32768,
        embedding_length=3584,
        size=4683087332,
        system="You continue stories.",
    )
    client = ollama.Client(host=server.url)

    listed = client.list().models
    shown = client.show("molbal/cra-v1-7b")

    assert [m.model for m in listed] == ["molbal/cra-v1-7b:latest", "smol:latest"]
    assert listed[0].size == 4683087332
    assert listed[0].details.quantization_level == "Q4_K_M"
    assert shown.modelinfo["qwen2.context_length"] == 32768
    assert shown.modelinfo["general.file_type"] == 15
    assert "SYSTEM You continue stories." in shown.modelfile
    assert shown.capabilities == ["completion"]


def test_the_version_endpoint(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)
    assert client._client.get("/api/version").json() == {"version": "0.32.15"}
    assert client._client.get("/").text == "Ollama is running"
