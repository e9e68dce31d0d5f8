"""The continuation state machine: idle -> thinking -> writing -> done | stopped | failed."""

from __future__ import annotations

import pytest

from storyloom.core import session
from storyloom.core.backend import Failed, FailureKind, Finished, GenerationStats
from storyloom.core.session import Phase, Stopped
from storyloom.prompting import AnswerDelta, ReasoningDelta

STATS = GenerationStats("m", 16384, 900, 120, 2.0, 3.0, "stop")


def run(*events) -> session.Continuation:
    state = session.start()
    for event in events:
        state = session.apply(state, event)
    return state


def test_happy_path() -> None:
    state = run(
        ReasoningDelta("plan "), ReasoningDelta("more"), AnswerDelta("Once"), Finished(STATS)
    )
    assert state.phase is Phase.DONE
    assert (state.reasoning, state.answer, state.stats) == ("plan more", "Once", STATS)
    assert state.history == (Phase.IDLE, Phase.THINKING, Phase.WRITING)


def test_stop_keeps_what_arrived() -> None:
    state = run(ReasoningDelta("plan"), AnswerDelta("Half a sen"), Stopped())
    assert state.phase is Phase.STOPPED
    assert state.answer == "Half a sen"


def test_failure_keeps_what_arrived_and_the_reason() -> None:
    failed = Failed(FailureKind.STREAM_BROKEN, "broke")
    state = run(AnswerDelta("Some"), failed)
    assert state.phase is Phase.FAILED
    assert (state.answer, state.failure) == ("Some", failed)


def test_events_after_the_end_change_nothing() -> None:
    state = run(AnswerDelta("Done."), Finished(STATS))
    assert session.apply(state, AnswerDelta(" more")) == state
    assert session.apply(state, Stopped()) == state


def test_stray_reasoning_after_the_answer_does_not_go_back_to_thinking() -> None:
    state = run(AnswerDelta("a"), ReasoningDelta("b"))
    assert state.phase is Phase.WRITING


def test_phase_activity() -> None:
    assert Phase.THINKING.is_active and Phase.WRITING.is_active
    assert not any(p.is_active for p in (Phase.IDLE, Phase.DONE, Phase.STOPPED, Phase.FAILED))


def test_unknown_event_is_an_error() -> None:
    with pytest.raises(TypeError):
        session.apply(session.start(), object())  # type: ignore[arg-type]
