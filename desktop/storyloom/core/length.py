"""How long a continuation may be, in sentences or paragraphs, and the cut that enforces it.

The writer chooses a length; `LengthLimiter` passes the answer through as it streams, counts its
sentences by the pipeline's rules (`core.sentences`) and, once the chosen one has ended, cuts
the answer right after it and says so (`reached`), so the backend can close the stream and
Ollama stops generating. A cut is always at a sentence's end, never inside a word. The limiter
holds back only what the next words could still put after the cut (at most the text after an
undecided "." or "Mr."), so the writer never sees text appear and then vanish.
"""

from __future__ import annotations

import copy
import enum

from storyloom.core.sentences import Sentence, SentenceScanner


class Length(enum.StrEnum):
    SENTENCE = "sentence"
    FEW = "few"
    PARAGRAPH = "paragraph"
    SCENE = "scene"
    UNLIMITED = "unlimited"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def sentences(self) -> int | None:
        """The answer ends after this many sentences (None: not counted in sentences)."""
        return _SENTENCES.get(self)

    @property
    def paragraphs(self) -> int | None:
        """The answer ends after this many paragraphs (None: not counted in paragraphs)."""
        return 1 if self is Length.PARAGRAPH else None


_SENTENCES = {Length.SENTENCE: 1, Length.FEW: 3, Length.SCENE: 20}
_LABELS = {
    Length.SENTENCE: "A sentence",
    Length.FEW: "A few sentences (3)",
    Length.PARAGRAPH: "A paragraph",
    Length.SCENE: "A scene (20 sentences)",
    Length.UNLIMITED: "No limit",
}


class LengthLimiter:
    """An answer's text in, the part within the length out; `feed()` pieces, then `close()`."""

    def __init__(self, length: Length = Length.UNLIMITED) -> None:
        self.length = length
        self._scanner = SentenceScanner() if length is not Length.UNLIMITED else None
        self._released = 0  # answer characters returned so far
        self._sentences = 0
        self._paragraphs = 0
        self.reached = False  # the answer is complete: everything after the cut is dropped

    @property
    def held(self) -> str:
        """Text received but not returned yet (it may still fall after the cut)."""
        if self._scanner is None or self.reached:
            return ""
        return self._scanner.text[self._released :]

    def ending(self, more: str = "") -> str:
        """What `feed(more)` and then `close()` would return, leaving this limiter as it is:
        the rest of the answer as if it ended after `more` (what a stop keeps)."""
        if self._scanner is None:
            return more
        if self.reached:
            return ""
        ahead = copy.copy(self)
        ahead._scanner = copy.copy(self._scanner)  # its fields are immutable: a cheap copy
        return ahead.feed(more) + ahead.close()

    def feed(self, text: str) -> str:
        if self._scanner is None:
            return text
        if self.reached:
            return ""
        return self._take(self._scanner.feed(text), self._scanner.settled)

    def close(self) -> str:
        if self._scanner is None or self.reached:
            return ""
        return self._take(self._scanner.close(), len(self._scanner.text))

    def _take(self, sentences: list[Sentence], settled: int) -> str:
        for sentence in sentences:
            if self._complete_after(sentence):
                self.reached = True
                return self._release(sentence.end)
        return self._release(settled)

    def _complete_after(self, sentence: Sentence) -> bool:
        self._sentences += 1
        self._paragraphs += sentence.ends_paragraph
        sentences, paragraphs = self.length.sentences, self.length.paragraphs
        return (sentences is not None and self._sentences >= sentences) or (
            paragraphs is not None and self._paragraphs >= paragraphs
        )

    def _release(self, end: int) -> str:
        assert self._scanner is not None
        start, self._released = self._released, max(self._released, end)
        return self._scanner.text[start : self._released]
