"""Disconnects, stalls and stopping: the fake stops generating the moment its client leaves (14).

Waits use events and the server's ``wait_for_*`` methods, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import ollama
import pytest

from fake_ollama import FakeOllama, Script, running_fake_ollama
from fake_ollama.fixtures import fake_ollama  # noqa: F401 - the fixture under test

MANY = [f" w{i}" for i in range(200)]


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with running_fake_ollama() as fake:
        yield fake
    assert fake.internal_errors == []


def test_cancelling_the_consuming_task_records_the_lines_sent(server: FakeOllama) -> None:
    # Five lines, then silence: the client cancels while the server still holds the stream.
    server.set_script(Script(MANY, stall_after=5))

    async def main() -> list[str]:
        received: list[str] = []
        five = asyncio.Event()
        client = ollama.AsyncClient(host=server.url)

        async def consume() -> None:
            stream = await client.generate("smol", "x", raw=True, stream=True)
            async for part in stream:
                received.append(part.response)
                if len(received) == 5:
                    five.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(five.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client._client.aclose()
        return received

    received = asyncio.run(main())

    disconnect = server.wait_for_disconnect(timeout=5)
    assert received == MANY[:5]
    assert (disconnect.path, disconnect.model, disconnect.lines_sent) == (
        "/api/generate",
        "smol",
        5,
    )
    record = server.generations[-1]
    assert (record.outcome, record.tokens_generated, record.done_reason) == (
        "disconnected",
        5,
        None,
    )


def test_breaking_out_and_closing_the_stream_stops_generation(server: FakeOllama) -> None:
    server.set_script(Script(MANY, delay=0.005))

    async def main() -> None:
        client = ollama.AsyncClient(host=server.url)
        stream = await client.generate("smol", "x", raw=True, stream=True)
        count = 0
        async for _ in stream:
            count += 1
            if count == 5:
                break
        await stream.aclose()  # a bare break would leave the response open (reference 4.6)
        await client._client.aclose()

    asyncio.run(main())

    disconnect = server.wait_for_disconnect(timeout=5)
    record = server.generations[-1]
    assert 5 <= disconnect.lines_sent < len(MANY)
    assert record.outcome == "disconnected"  # the generation loop has ended
    assert record.tokens_generated == disconnect.lines_sent < len(MANY)


def test_closing_a_sync_generator_is_a_disconnect(server: FakeOllama) -> None:
    server.set_script(Script(MANY, stall_after=3))
    client = ollama.Client(host=server.url)

    stream = client.generate("smol", "x", raw=True, stream=True)
    first = [next(stream).response for _ in range(3)]
    stream.close()

    assert first == MANY[:3]
    assert server.wait_for_disconnect(timeout=5).lines_sent == 3


def test_a_stall_holds_the_connection_until_the_client_gives_up(server: FakeOllama) -> None:
    server.set_script(Script(["a", "b", "c"], stall_after=1))  # stalls until the client leaves

    async def main() -> list[str]:
        client = ollama.AsyncClient(host=server.url)
        stream = await client.generate("smol", "x", raw=True, stream=True)
        received = [(await anext(stream)).response]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # the app's stall timeout does this
                await anext(stream)
        await stream.aclose()
        await client._client.aclose()
        return received

    assert asyncio.run(main()) == ["a"]
    assert server.wait_for_disconnect(timeout=5).lines_sent == 1


def test_a_timed_stall_resumes_and_finishes(server: FakeOllama) -> None:
    server.set_script(Script(["a", "b"], stall_after=1, stall_seconds=0.15))
    client = ollama.Client(host=server.url)

    arrivals = [
        (part.response, time.monotonic()) for part in client.generate("smol", "x", stream=True)
    ]

    assert [text for text, _ in arrivals] == ["a", "b", ""]
    assert arrivals[1][1] - arrivals[0][1] >= 0.14
    assert server.disconnects == []


def test_delays_pace_the_tokens_and_show_in_the_durations(server: FakeOllama) -> None:
    server.set_script(Script(["a", "b", "c"], delay=0.03))
    started = time.monotonic()

    final = ollama.Client(host=server.url).generate("smol", "x", raw=True)

    assert time.monotonic() - started >= 0.09
    assert final.eval_duration >= 50_000_000  # tokens 2 and 3, in ns
    assert final.prompt_eval_duration >= 25_000_000  # the wait before the first token
    assert final.total_duration >= final.prompt_eval_duration + final.eval_duration


def test_stop_is_prompt_while_a_stream_is_in_flight() -> None:
    server = FakeOllama(script=Script(MANY, stall_after=1)).start()
    first_line = threading.Event()
    outcome: list[BaseException | None] = []

    def consume() -> None:
        try:
            for _ in ollama.Client(host=server.url).generate("smol", "x", stream=True):
                first_line.set()
            outcome.append(None)
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert first_line.wait(timeout=5)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)

    assert time.monotonic() - started < 1.0
    assert not thread.is_alive()
    assert outcome and outcome[0] is not None  # the client saw the stream break off
    assert server.generations[-1].outcome == "stopped"


def test_wait_for_request_returns_the_recorded_request(server: FakeOllama) -> None:
    thread = threading.Thread(
        target=lambda: ollama.Client(host=server.url).generate("smol", "hello", raw=True)
    )
    thread.start()
    request = server.wait_for_request("/api/generate", timeout=5)
    thread.join(timeout=5)

    assert request.json["prompt"] == "hello"
    with pytest.raises(TimeoutError):
        server.wait_for_request("/api/chat", timeout=0.05)


def test_the_fixture_points_ollama_host_at_the_fake(fake_ollama: FakeOllama) -> None:  # noqa: F811
    reply = ollama.Client().generate("smol", "x", raw=True)  # host from OLLAMA_HOST
    assert reply.done
    assert fake_ollama.running
    assert fake_ollama.requests_to("/api/generate")[0].json["raw"] is True
