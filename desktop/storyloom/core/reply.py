"""One streamed reply, from the model's raw text to what the writer sees.

Three stages, each streaming-safe, in order:

1. the response parser splits reasoning from answer (and drops the tags);
2. the echo trim drops an answer's opening repeat of the story's last words;
3. the length limit cuts the answer after the sentence or paragraph the writer asked for.

Each stage may hold a little text back until the next chunk decides it. `held` is what a stop
would keep now: the answer as if it had ended here, so a writer who stops the stream never
loses words that the model wrote.
"""

from __future__ import annotations

from storyloom.core.echo import EchoTrimmer
from storyloom.core.length import Length, LengthLimiter
from storyloom.prompting import (
    CRA_TAGS,
    AnswerDelta,
    Event,
    Malformation,
    ResponseParser,
    TagScheme,
)


class ReplyReader:
    def __init__(
        self,
        context: str,
        *,
        scheme: TagScheme = CRA_TAGS,
        prefill: str = "",
        length: Length = Length.UNLIMITED,
    ) -> None:
        self._parser = ResponseParser(scheme)
        self._scheme = scheme
        self._parser.feed(prefill)  # the model continues from inside the prefilled turn
        self._echo = EchoTrimmer(context)
        self._limit = LengthLimiter(length)

    @property
    def reached(self) -> bool:
        """The answer is as long as the writer asked: read no further."""
        return self._limit.reached

    @property
    def held(self) -> str:
        """Answer text received but not yet given out, as `close()` would give it out now: less
        the echo it would trim, cut where the length would cut it."""
        return self._limit.ending(self._echo.held)

    @property
    def malformations(self) -> tuple[Malformation, ...]:
        """How the reply departed from its tag scheme (none for a scheme without answer tags)."""
        if not self._scheme.expects_tags:
            return ()
        found = self._parser.malformations
        if self.reached:  # cut on purpose: the missing </answer> is ours
            found = tuple(m for m in found if m is not Malformation.MISSING_ANSWER_CLOSE)
        return found

    def feed(self, content: str) -> list[Event]:
        return self._answer_through(self._parser.feed(content))

    def close(self) -> list[Event]:
        events = self._answer_through(self._parser.close())
        tail = self._limit.feed(self._echo.close()) + self._limit.close()
        if tail:
            events.append(AnswerDelta(tail))
        return events

    def _answer_through(self, events: list[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if isinstance(event, AnswerDelta):
                if text := self._limit.feed(self._echo.feed(event.text)):
                    out.append(AnswerDelta(text))
            else:
                out.append(event)
        return out
