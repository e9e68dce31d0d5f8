"""The controller on a real qasync loop, with a scripted backend: batching, stop, errors."""

from __future__ import annotations

import asyncio

from storyloom.core.backend import (
    AnswerHeld,
    ContinuationRequest,
    Failed,
    FailureKind,
    Finished,
    GenerationSettings,
    GenerationStats,
)
from storyloom.core.session import Phase
from storyloom.gui.controllers.continuation import ContinuationController
from storyloom.prompting import AnswerDelta, ReasoningDelta

from loop_helpers import until

REQUEST = ContinuationRequest("Once upon a time.", GenerationSettings(model="m"))
STATS = GenerationStats("m", 16384, 100, 3, 0.5, 1.0, "stop")


class ScriptedBackend:
    """Yields the given events with a pause between them; records whether it was closed."""

    def __init__(self, events: list, pause: float = 0.0) -> None:
        self.events = events
        self.pause = pause
        self.closed = asyncio.Event()

    async def continue_story(self, request):
        try:
            for event in self.events:
                await asyncio.sleep(self.pause)
                yield event
        finally:
            self.closed.set()


def collect(controller: ContinuationController) -> dict[str, list]:
    seen: dict[str, list] = {"reasoning": [], "answer": [], "phases": [], "failed": []}
    controller.reasoningDelta.connect(seen["reasoning"].append)
    controller.answerDelta.connect(seen["answer"].append)
    controller.phaseChanged.connect(seen["phases"].append)
    controller.failed.connect(seen["failed"].append)
    return seen


def test_streams_in_order_and_finishes(qapp, run_async) -> None:
    events = [ReasoningDelta("Plan"), ReasoningDelta(" more"), AnswerDelta("Once"), Finished(STATS)]
    controller = ContinuationController(ScriptedBackend(events))
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await controller.wait()

    run_async(scenario)
    assert "".join(seen["reasoning"]) == "Plan more"
    assert "".join(seen["answer"]) == "Once"
    assert seen["phases"] == [Phase.THINKING, Phase.WRITING, Phase.DONE]
    assert controller.state.stats == STATS


def test_fast_deltas_are_batched(qapp, run_async) -> None:
    events = [AnswerDelta(f"w{i} ") for i in range(500)] + [Finished(STATS)]
    controller = ContinuationController(ScriptedBackend(events))
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await controller.wait()

    run_async(scenario)
    assert "".join(seen["answer"]) == "".join(f"w{i} " for i in range(500))
    assert len(seen["answer"]) < 50  # hundreds of tokens, a handful of repaints


def test_stop_cancels_the_stream_and_keeps_what_arrived(qapp, run_async) -> None:
    events = [AnswerDelta("a"), AnswerDelta("b")] + [AnswerDelta("x")] * 1000
    backend = ScriptedBackend(events, pause=0.01)
    controller = ContinuationController(backend)
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await until(lambda: controller.state.answer.startswith("ab"))
        controller.stop()
        await controller.wait()
        await asyncio.wait_for(backend.closed.wait(), 5)

    run_async(scenario)
    assert controller.phase is Phase.STOPPED
    assert seen["phases"][-1] is Phase.STOPPED
    assert "".join(seen["answer"]) == controller.state.answer
    assert len(controller.state.answer) < 1002


def test_failure_is_reported_with_its_message(qapp, run_async) -> None:
    failure = Failed(FailureKind.MODEL_NOT_FOUND, "not installed")
    controller = ContinuationController(ScriptedBackend([AnswerDelta("Part"), failure]))
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await controller.wait()

    run_async(scenario)
    assert seen["failed"] == [failure]
    assert controller.phase is Phase.FAILED
    assert "".join(seen["answer"]) == "Part"


def test_a_crashing_backend_fails_the_continuation_not_the_app(qapp, run_async) -> None:
    class Broken:
        async def continue_story(self, request):
            yield AnswerDelta("x")
            raise ValueError("boom")

    controller = ContinuationController(Broken())
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await controller.wait()

    run_async(scenario)
    assert controller.phase is Phase.FAILED
    assert "boom" in seen["failed"][0].message


def test_starting_again_cancels_the_previous_stream(qapp, run_async) -> None:
    slow = ScriptedBackend([AnswerDelta("old")] * 1000, pause=0.01)
    controller = ContinuationController(slow)

    async def scenario() -> None:
        controller.start(REQUEST)
        await until(lambda: controller.state.answer != "")
        controller.backend = ScriptedBackend([AnswerDelta("new"), Finished(STATS)])
        controller.start(REQUEST)
        await controller.wait()
        await asyncio.wait_for(slow.closed.wait(), 5)

    run_async(scenario)
    assert controller.state.answer == "new"
    assert controller.phase is Phase.DONE


def test_stop_keeps_the_words_the_backend_was_holding_back(qapp, run_async) -> None:
    class Holding:
        async def continue_story(self, request):
            yield AnswerDelta("She")
            yield AnswerHeld(" turned")  # e.g. a possible echo, or an undecided sentence end
            await asyncio.sleep(60)
            yield AnswerDelta(" never")

    controller = ContinuationController(Holding())
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await until(lambda: controller.state.held == " turned")
        controller.stop()
        await controller.wait()

    run_async(scenario)
    assert controller.phase is Phase.STOPPED
    assert controller.state.answer == "She turned"
    assert "".join(seen["answer"]) == "She turned"


def test_cancel_drops_what_was_not_shown_and_closes_the_stream(qapp, run_async) -> None:
    """The pending text went away (the story was replaced): nothing more may be emitted, not
    the batched deltas, not the held-back words."""
    shown = asyncio.Event()
    closed = asyncio.Event()

    class Holding:
        async def continue_story(self, request):
            try:
                yield AnswerDelta("She")
                await shown.wait()
                yield AnswerDelta(" turned")  # batched: not emitted yet when cancelled
                yield AnswerHeld(" away")
                await asyncio.sleep(60)
            finally:
                closed.set()

    controller = ContinuationController(Holding())
    seen = collect(controller)

    async def scenario() -> None:
        controller.start(REQUEST)
        await until(lambda: seen["answer"] == ["She"])
        shown.set()
        await until(lambda: controller.state.held == " away")
        controller.cancel()
        await controller.wait()
        await asyncio.wait_for(closed.wait(), 5)
        await asyncio.sleep(0.05)  # several flush intervals

    run_async(scenario)
    assert controller.phase is Phase.STOPPED
    assert seen["phases"][-1] is Phase.STOPPED
    assert seen["answer"] == ["She"]
    assert controller.state.answer == "She"  # as far as it was shown: the take keeps that
    assert controller.state.held == ""
