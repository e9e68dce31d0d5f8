"""Trimming the echo: an answer that starts by repeating the end of the context.

CRA models sometimes open their answer with the last words, sentence or paragraph of the story
they were sent. Inserted as is, that text would appear twice, so it is cut before the writer sees
it. The rules, applied to a normalized form of both texts:

- every run of whitespace is one space, and the answer's leading whitespace is ignored: a
  paragraph the model re-wrapped (or joined to the next) still matches;
- straight and typographic quotes are the same character (" “ ” „ ‟ and ' ‘ ’ ‚ ‛);
- case counts: models echo verbatim, and "He" where the story has "he" is more likely new text
  (a sentence start) than a repeat; case folding can also change a string's length;
- the echo is the longest head of the answer that equals a tail of the context, whether half a
  sentence, the last sentence or the last paragraphs; it must be at least `min_chars` normalized
  characters long (a coincidental "The" is never cut), start on a word boundary in the context
  and end on one in the answer, so no word is ever cut in half;
- only the last TAIL_CHARS normalized characters of the context are searched, so the cost does
  not grow with the story; a repeat longer than that is not an echo but a model gone astray,
  and is left for the writer to see.

The cut lands after the echo and any whitespace that follows it.
"""

from __future__ import annotations

import re

TAIL_CHARS = 2000
DEFAULT_MIN_CHARS = 20
# Raw characters read from the context's end: enough for TAIL_CHARS unless it is mostly blank.
_RAW_TAIL_FACTOR = 4
_QUOTES = {"“": '"', "”": '"', "„": '"', "‟": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'"}
_QUOTE_TABLE = str.maketrans(_QUOTES)
_WHITESPACE = re.compile(r"\s+")


def echo_length(context: str, answer: str, *, min_chars: int = DEFAULT_MIN_CHARS) -> int:
    """How many leading characters of `answer` repeat the end of `context` (0 when none)."""
    trimmer = EchoTrimmer(context, min_chars=min_chars)
    kept = trimmer.feed(answer) + trimmer.close()
    return len(answer) - len(kept)


class EchoTrimmer:
    """Streaming echo trim: `feed()` answer chunks as they arrive, then `close()` once.

    Each call returns the answer text that is now safe to show. Text is held back only while the
    answer so far could still be (the start of) an echo of the context's tail, which is at most
    about TAIL_CHARS characters. Whatever the chunking, everything returned adds up to
    `answer[echo_length(context, answer):]`.
    """

    def __init__(self, context: str, *, min_chars: int = DEFAULT_MIN_CHARS) -> None:
        if min_chars < 1:
            raise ValueError(f"min_chars must be at least 1, got {min_chars}")
        self._tail, before = _context_tail(context)
        # Where in the tail an echo long enough could start; pruned as the answer arrives.
        self._starts = [
            p for p in range(len(self._tail) - min_chars + 1) if _starts_word(self._tail, p, before)
        ]
        self._matched = 0  # normalized answer characters already checked against self._starts
        # Overlap lengths k (answer[:k] == tail[-k:]) waiting for the answer character after them.
        self._pending: list[int] = []
        self._best = 0  # longest overlap confirmed so far
        self._held = ""  # raw answer text not yet returned
        self._norm = ""  # normalized answer so far
        self._raw_end: list[int] = []  # per normalized character: its end offset in self._held
        self._in_space = False
        self._decided = False
        self._skip_space = False  # drop the whitespace that follows a trimmed echo
        self._closed = False

    def feed(self, text: str) -> str:
        if self._closed:
            raise RuntimeError("feed() after close()")
        if self._decided:
            return self._pass(text)
        offset = len(self._held)
        self._held += text
        self._normalize(text, offset)
        self._match()
        if not self._starts and not self._pending:  # nothing left that could grow into an echo
            return self._release()
        return ""

    def close(self) -> str:
        if self._closed:
            return ""
        self._closed = True
        if self._decided:
            return ""
        self._best = self._best_if_it_ended()
        return self._release()

    @property
    def held(self) -> str:
        """What `close()` would return now: the text held back, less the echo it would cut.

        A writer who stops the stream keeps this, as if the answer had ended here.
        """
        if self._decided or self._closed:
            return ""
        best = self._best_if_it_ended()
        return self._held[self._raw_end[best - 1] :].lstrip() if best else self._held

    def _best_if_it_ended(self) -> int:
        # Where the answer ends, an overlap reaching its end needs no word boundary after it.
        return max([self._best, *self._pending])

    def _normalize(self, text: str, offset: int) -> None:
        chars: list[str] = []
        for i, ch in enumerate(text, start=offset):
            if ch.isspace():
                if not self._norm and not chars:  # the answer's leading whitespace
                    continue
                if self._in_space:  # one more character of the same run
                    self._raw_end[-1] = i + 1
                    continue
                self._in_space = True
                ch = " "
            else:
                self._in_space = False
                ch = _QUOTES.get(ch, ch)
            chars.append(ch)
            self._raw_end.append(i + 1)
        self._norm += "".join(chars)

    def _match(self) -> None:
        tail, answer = self._tail, self._norm
        old, new = self._matched, len(answer)
        segment = answer[old:]
        still_open: list[int] = []
        for p in self._starts:  # invariant: tail[p : p + old] == answer[:old], len(tail) - p > old
            k = len(tail) - p
            if k <= new:
                if tail[p + old :] == answer[old:k]:
                    self._pending.append(k)
            elif tail.startswith(segment, p + old):
                still_open.append(p)
        self._starts = still_open
        self._matched = new
        # An overlap only counts if the answer does not go on with the same word after it.
        waiting: list[int] = []
        for k in self._pending:
            if k >= new:
                waiting.append(k)
            elif not (answer[k - 1].isalnum() and answer[k].isalnum()):
                self._best = max(self._best, k)
        self._pending = waiting

    def _release(self) -> str:
        self._decided = True
        held, self._held = self._held, ""
        if self._best:
            held = held[self._raw_end[self._best - 1] :]
            self._skip_space = True
        self._starts, self._pending, self._raw_end, self._norm = [], [], [], ""
        return self._pass(held)

    def _pass(self, text: str) -> str:
        if self._skip_space:
            text = text.lstrip()
            self._skip_space = not text
        return text


def _context_tail(context: str) -> tuple[str, str]:
    """The normalized end of `context` and the character before it ('' at the story's start)."""
    raw_start = max(0, len(context) - TAIL_CHARS * _RAW_TAIL_FACTOR)
    tail = _WHITESPACE.sub(" ", context[raw_start:].translate(_QUOTE_TABLE)).rstrip()
    before = ""
    if raw_start > 0:  # the first character may be half a word: it only serves as look-behind
        before, tail = tail[:1], tail[1:]
    if len(tail) > TAIL_CHARS:
        before, tail = tail[-TAIL_CHARS - 1], tail[-TAIL_CHARS:]
    return tail, before


def _starts_word(tail: str, p: int, before: str) -> bool:
    """An echo may start at `tail[p]`: not a space, and not in the middle of a word."""
    ch = tail[p]
    previous = tail[p - 1] if p else before
    return ch != " " and not (previous.isalnum() and ch.isalnum())
