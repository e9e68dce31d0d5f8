"""Streaming parser for `<reasoning>…</reasoning><answer>…</answer>` replies.

Real CRA output is not always well formed: a second `<reasoning>` where `</reasoning>` belongs,
no `</answer>` when generation hits its token limit, newlines around and between the tags, or no
tags at all. The rules, applied the same whatever the chunking:

- reasoning is everything after the first `<reasoning>` up to `<answer>`; stray reasoning tags
  (an extra opening one, the closing one) are dropped, text between them is kept;
- answer is everything after `<answer>` up to `</answer>` or the end of the stream;
- text before any tag (the whole reply, when it has no tags) is answer: the writer sees it and
  decides, rather than losing it;
- each part is trimmed of surrounding whitespace; text after `</answer>` is ignored;
- a tag (matched case-insensitively) is never emitted as text, even when a chunk ends halfway
  through it: a possible tag prefix is held back until the next chunk decides it, and one left
  dangling at `close()` (generation cut off mid-tag) is dropped.

Each malformation seen is recorded so the app can warn and the evaluation can count them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from storyloom.prompting.format import ANSWER_CLOSE, ANSWER_OPEN, REASONING_CLOSE, REASONING_OPEN


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    text: str


Event = ReasoningDelta | AnswerDelta


class Malformation(enum.StrEnum):
    """Ways a reply departs from `<reasoning>…</reasoning><answer>…</answer>`."""

    NO_TAGS = "no_tags"
    TEXT_BEFORE_TAGS = "text_before_tags"
    NO_REASONING = "no_reasoning"
    REPEATED_REASONING_OPEN = "repeated_reasoning_open"
    MISSING_REASONING_CLOSE = "missing_reasoning_close"
    STRAY_TAG = "stray_tag"
    NO_ANSWER = "no_answer"
    MISSING_ANSWER_CLOSE = "missing_answer_close"
    TEXT_AFTER_ANSWER = "text_after_answer"


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    reasoning: str
    answer: str
    malformations: tuple[Malformation, ...] = field(default=())

    @property
    def well_formed(self) -> bool:
        return not self.malformations


class _State(enum.Enum):
    START = enum.auto()  # nothing but whitespace so far
    UNTAGGED = enum.auto()  # text arrived before any tag: it is answer
    REASONING = enum.auto()
    ANSWER = enum.auto()
    DONE = enum.auto()  # after </answer>


@dataclass(frozen=True, slots=True)
class TagScheme:
    """The tags that delimit a reply's reasoning and answer (lower case).

    Without answer tags (the `<think>…</think>` style of generic reasoning models), closing the
    reasoning starts the answer, which then runs to the end of the reply.
    """

    reasoning_open: str
    reasoning_close: str
    answer_open: str | None = None
    answer_close: str | None = None

    @property
    def expects_tags(self) -> bool:
        """A reply without these tags is malformed: true of answer tags (cra-v1); a chat
        model's <think> is optional."""
        return self.answer_open is not None

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(
            t
            for t in (
                self.reasoning_open,
                self.reasoning_close,
                self.answer_open,
                self.answer_close,
            )
            if t
        )


CRA_TAGS = TagScheme(REASONING_OPEN, REASONING_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
THINK_TAGS = TagScheme("<think>", "</think>")


class ResponseParser:
    """Incremental parser: `feed()` chunks as they stream in, then `close()` once.

    Both return the events that became certain, with consecutive deltas of one kind merged.
    """

    def __init__(self, scheme: TagScheme = CRA_TAGS) -> None:
        self._scheme = scheme
        self._tags = scheme.tags
        self._longest_tag = max(len(t) for t in self._tags)
        self._state = _State.START
        self._tail = ""  # a possible partial tag carried over to the next chunk
        self._part_has_text = False  # the current part emitted something (leading ws is gone)
        self._held_ws = ""  # whitespace that only counts if more text follows in the part
        self._seen: dict[Malformation, None] = {}  # ordered set
        self._saw_reasoning_close = False
        self._closed = False
        self._events: list[Event] = []

    @property
    def malformations(self) -> tuple[Malformation, ...]:
        return tuple(self._seen)

    def feed(self, chunk: str) -> list[Event]:
        if self._closed:
            raise RuntimeError("feed() after close()")
        self._scan(self._tail + chunk, final=False)
        return self._take_events()

    def close(self) -> list[Event]:
        if self._closed:
            return []
        self._scan(self._tail, final=True)
        self._closed = True
        self._finish()
        return self._take_events()

    # -- scanning -----------------------------------------------------------------------

    def _scan(self, text: str, *, final: bool) -> None:
        self._tail = ""
        pos = 0
        while pos < len(text):
            lt = text.find("<", pos)
            if lt < 0:
                self._text(text[pos:])
                return
            self._text(text[pos:lt])
            # Slice before lower(): lower-casing a whole chunk can change its length.
            tag = next((t for t in self._tags if text[lt : lt + len(t)].lower() == t), None)
            if tag is not None:
                self._tag(tag)
                pos = lt + len(tag)
            elif len(text) - lt < self._longest_tag and self._could_become_tag(text[lt:].lower()):
                # The chunk ends inside what may be a tag: wait for more. At the end of the
                # stream it is a tag cut off by the token limit, never prose: drop it.
                if not final:
                    self._tail = text[lt:]
                return
            else:
                self._text("<")
                pos = lt + 1

    def _could_become_tag(self, fragment: str) -> bool:
        """True if `fragment` (lower-cased, starting with '<') is a proper prefix of a tag."""
        return any(tag.startswith(fragment) and tag != fragment for tag in self._tags)

    def _tag(self, tag: str) -> None:
        state, scheme = self._state, self._scheme
        if tag == scheme.reasoning_close and scheme.answer_open is None:
            if state is _State.REASONING:
                self._enter(_State.ANSWER)  # "</think>": the answer follows untagged
            else:
                self._flag(Malformation.STRAY_TAG)
        elif tag == scheme.reasoning_open:
            if state in (_State.START, _State.UNTAGGED):
                if state is _State.UNTAGGED:
                    self._flag(Malformation.TEXT_BEFORE_TAGS)
                self._enter(_State.REASONING)
            elif state is _State.REASONING:
                self._flag(Malformation.REPEATED_REASONING_OPEN)
            else:
                self._flag(Malformation.STRAY_TAG)
        elif tag == scheme.reasoning_close:
            if state is _State.REASONING and not self._saw_reasoning_close:
                self._saw_reasoning_close = True
            else:
                self._flag(Malformation.STRAY_TAG)
        elif tag == scheme.answer_open:
            if state is _State.REASONING:
                if not self._saw_reasoning_close:
                    self._flag(Malformation.MISSING_REASONING_CLOSE)
                self._enter(_State.ANSWER)
            elif state in (_State.START, _State.UNTAGGED):
                if state is _State.UNTAGGED:
                    self._flag(Malformation.TEXT_BEFORE_TAGS)
                self._flag(Malformation.NO_REASONING)
                self._enter(_State.ANSWER)
            else:
                self._flag(Malformation.STRAY_TAG)
        elif state is _State.ANSWER:  # the answer's closing tag
            self._enter(_State.DONE)
        elif state is _State.UNTAGGED:  # untagged prose closed by </answer>: still the answer
            self._flag(Malformation.NO_REASONING)
            self._enter(_State.DONE)
        else:
            self._flag(Malformation.STRAY_TAG)

    def _text(self, text: str) -> None:
        if not text:
            return
        state = self._state
        if state is _State.DONE:
            if text.strip():
                self._flag(Malformation.TEXT_AFTER_ANSWER)
            return
        if state is _State.START:
            if not text.strip():
                return
            self._enter(_State.UNTAGGED)
        if not self._part_has_text:
            text = text.lstrip()
            if not text:
                return
        body = text.rstrip()
        if body:
            self._emit(self._held_ws + body)
            self._part_has_text = True
            self._held_ws = ""
        self._held_ws += text[len(body) :]

    def _enter(self, state: _State) -> None:
        self._state = state
        self._part_has_text = False
        self._held_ws = ""

    def _finish(self) -> None:
        state = self._state
        if state in (_State.START, _State.UNTAGGED):
            self._flag(Malformation.NO_TAGS)
        elif state is _State.REASONING:
            self._flag(Malformation.NO_ANSWER)
        elif state is _State.ANSWER and self._scheme.answer_close:
            self._flag(Malformation.MISSING_ANSWER_CLOSE)

    # -- output -------------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        kind = ReasoningDelta if self._state is _State.REASONING else AnswerDelta
        if self._events and type(self._events[-1]) is kind:
            text = self._events.pop().text + text
        self._events.append(kind(text))

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _flag(self, malformation: Malformation) -> None:
        self._seen.setdefault(malformation, None)


def parse_response(text: str, scheme: TagScheme = CRA_TAGS) -> ParsedResponse:
    """Parse a whole reply with the same rules as the streaming parser."""
    parser = ResponseParser(scheme)
    events = parser.feed(text) + parser.close()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return ParsedResponse(reasoning, answer, parser.malformations)
