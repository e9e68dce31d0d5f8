"""The state of one continuation, as a pure function of the events it has seen.

idle -> thinking (request sent, reasoning streaming) -> writing (answer streaming)
     -> done | stopped (the writer stopped it) | failed
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from storyloom.core.backend import (
    AnswerHeld,
    BackendEvent,
    ContextPrepared,
    Failed,
    Finished,
    GenerationStats,
)
from storyloom.prompting import AnswerDelta, ReasoningDelta


class Phase(enum.Enum):
    IDLE = "idle"
    THINKING = "thinking"
    WRITING = "writing"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        return self in (Phase.THINKING, Phase.WRITING)


@dataclass(frozen=True, slots=True)
class Stopped:
    """The writer stopped the stream; what arrived stays pending."""


SessionEvent = BackendEvent | Stopped


@dataclass(frozen=True, slots=True)
class Continuation:
    """Everything known about one continuation so far."""

    phase: Phase = Phase.IDLE
    reasoning: str = ""
    answer: str = ""
    held: str = ""  # answer text the backend holds back for now; a stop keeps it
    prepared: ContextPrepared | None = None
    stats: GenerationStats | None = None
    failure: Failed | None = None
    history: tuple[Phase, ...] = field(default=())  # the phases passed through, oldest first


def start() -> Continuation:
    return Continuation(phase=Phase.THINKING, history=(Phase.IDLE,))


def apply(state: Continuation, event: SessionEvent) -> Continuation:
    """The state after `event`. Events after the end are ignored."""
    if not state.phase.is_active:
        return state
    match event:
        case ContextPrepared():
            return replace(state, prepared=event)
        case ReasoningDelta(text=text):
            return _to(replace(state, reasoning=state.reasoning + text), Phase.THINKING)
        case AnswerDelta(text=text):
            return _to(replace(state, answer=state.answer + text), Phase.WRITING)
        case AnswerHeld(text=text):
            return replace(state, held=text)
        case Finished(stats=stats):
            return _to(replace(state, stats=stats), Phase.DONE)
        case Failed():
            return _to(replace(state, failure=event), Phase.FAILED)
        case Stopped():
            return _to(state, Phase.STOPPED)
    raise TypeError(f"not a session event: {event!r}")


def _to(state: Continuation, phase: Phase) -> Continuation:
    if phase is state.phase:
        return state
    # Once the answer has started, stray reasoning never sends the state back to "thinking".
    if state.phase is Phase.WRITING and phase is Phase.THINKING:
        return state
    return replace(state, phase=phase, history=(*state.history, state.phase))
