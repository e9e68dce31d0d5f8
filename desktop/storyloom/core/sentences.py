"""Sentences as the pipeline cuts them (Punkt, English), without nltk, and as text streams in.

The pipeline cut its training data into sentences with nltk's Punkt
(`storyloom_pipeline.sentences`): paragraphs at blank lines, then Punkt within each paragraph. So
that "three sentences" means in the app what it meant in training, this module implements
Punkt's decision procedure for English, with Punkt's own English parameters (abbreviations,
collocations, frequent sentence starters and the orthographic context of 20,000 words), which
`python -m storyloom_pipeline.app_punkt` exports to `punkt_english.json.gz` beside this file:

- a *candidate* is a "." "?" or "!" followed by other punctuation, or by whitespace and a token;
  of several candidates in one whitespace-delimited word only the last counts ("acting!!!");
- a candidate ends a sentence when Punkt's two annotation passes over the word, the mark and what
  follows it say so: abbreviations ("Mr."), collocations, initials and numbers continue the
  sentence unless the orthographic heuristic or a frequent sentence starter says otherwise;
- closing quotes and brackets after the mark, when followed by whitespace, "--" or the end of
  the paragraph, stay with the sentence they close;
- a blank line always ends a sentence, and no sentence crosses one.

`SentenceScanner` takes text in pieces, split anywhere, and reports each sentence only once no
later text can change it (Punkt looks at the whole next word); `split_sentences` and
`sentence_spans` are the same scanner fed a whole text. tests/pipeline/test_app_sentences.py
measures the agreement with the pipeline's splitter on the Gutenberg corpus.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

PARAMETERS_FILE = "punkt_english.json.gz"

_MARKS = frozenset(".?!")
# Punkt's "non-word" punctuation: a mark followed by one of these is a candidate.
_NON_WORD = ")\";}]*:@'({[‘’“”«»!?"
# What may close a sentence after its mark (Punkt's boundary realignment).
_CLOSERS = "\"')]}‘’“”«»"
# Where Punkt looks for the start of the word before a mark: ASCII whitespace only.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_PUNCTUATION = frozenset(";:,.!?")  # Punkt: a sentence never starts with one of these

# Punkt's English word tokenizer, applied only to the few words around a candidate.
_NW = "[" + re.escape(_NON_WORD) + "]"
_MULTI_CHAR = r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_WORD = re.compile(
    rf"{_MULTI_CHAR}"
    rf"|(?=[^\(\"\`{{\[:;&\#\*@\)}}\]\-,])\S+?"
    rf"(?=\s|$|{_NW}|{_MULTI_CHAR}|,(?=$|\s|{_NW}|{_MULTI_CHAR}))"
    r"|\S"
)
_NUMERIC = re.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")
_ELLIPSIS = re.compile(r"\.\.+$")
_INITIAL = re.compile(r"[^\W\d]\.$")

_NEXT_STOP = re.compile(r"[.?!]|\n")  # where the scanner has something to decide
_SPACES_AND_TABS = re.compile(r"[ \t]*")
_ASCII_SPACE = re.compile(r"[ \t\n\r\x0b\x0c]")
_SPACE_RUN = re.compile(r"\s+")
_TOKEN_RUN = re.compile(r"\S+")
_NON_SPACE = re.compile(r"\S")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CLOSER_RUN = re.compile("[" + re.escape(_CLOSERS) + "]+")

# Punkt's orthographic context bits: where a word was seen capitalized or in lower case.
_ORTHO_MID_UC = 1 << 2
_ORTHO_UC = (1 << 1) | (1 << 2) | (1 << 3)
_ORTHO_BEG_LC = 1 << 4
_ORTHO_LC = (1 << 4) | (1 << 5) | (1 << 6)

_MAX_REMEMBERED = 100_000  # break decisions kept per parameter set


@dataclass(frozen=True)
class PunktParameters:
    abbrev_types: frozenset[str]
    collocations: frozenset[tuple[str, str]]
    sent_starters: frozenset[str]
    ortho_context: Mapping[str, int]


@functools.cache
def english_parameters() -> PunktParameters:
    """The shipped English parameters (read once, on first use: about 20 ms)."""
    raw = resources.files("storyloom.core").joinpath(PARAMETERS_FILE).read_bytes()
    data = json.loads(gzip.decompress(raw))
    return PunktParameters(
        abbrev_types=frozenset(data["abbrev_types"]),
        collocations=frozenset((first, second) for first, second in data["collocations"]),
        sent_starters=frozenset(data["sent_starters"]),
        ortho_context=data["ortho_context"],
    )


# -- Punkt's decision for one candidate ---------------------------------------------------------


class _Token:
    __slots__ = ("abbr", "ellipsis", "sentbreak", "tok", "type")

    def __init__(self, tok: str) -> None:
        self.tok = tok
        self.type = _NUMERIC.sub("##number##", tok.lower())
        self.sentbreak = self.abbr = self.ellipsis = False

    @property
    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type[-1] == "." else self.type

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type


class BreakRules:
    """Punkt's answer to "does this context contain a sentence break?", remembered.

    A context is the word before a candidate, the mark and what follows it (one punctuation
    character, or the whitespace and the next token), as Punkt builds it.
    """

    def __init__(self, params: PunktParameters) -> None:
        self.params = params
        self._decisions: dict[str, bool] = {}
        self._regardless: dict[str, bool] = {}
        self._collocation_starts = frozenset(first for first, _ in params.collocations)

    def contains_break(self, context: str) -> bool:
        return _remembered(self._decisions, context, self._decide)

    def breaks_whatever_follows(self, before: str) -> bool:
        """Whether the word and mark `before` end a sentence whatever token follows after a
        space.

        True for most plain words ("ran."): only abbreviations, ellipses, initials, numbers and
        collocations look at the next word. Lets a stream end a sentence without waiting for
        the whole next word, and saves deciding "him. The" and "him. Then" apart.
        """
        return _remembered(self._regardless, before, self._regardless_of_next)

    def _regardless_of_next(self, before: str) -> bool:
        tokens = self._annotated(before)
        if any(token.sentbreak for token in tokens[:-1]):
            return True
        last = tokens[-1] if tokens else None
        return (
            last is not None
            and last.sentbreak
            and not _INITIAL.match(last.tok)
            and last.type_no_period != "##number##"
            and last.type_no_period not in self._collocation_starts
        )

    def _decide(self, context: str) -> bool:
        tokens = self._annotated(context)
        # A break counts only if some token follows it inside the context.
        return any(token.sentbreak for token in tokens[:-1])

    def _annotated(self, context: str) -> list[_Token]:
        tokens = [_Token(t) for line in context.split("\n") for t in _WORD.findall(line)]
        for token in tokens:
            self._first_pass(token)
        for token, following in itertools.pairwise(tokens):
            self._second_pass(token, following)
        return tokens

    def _first_pass(self, token: _Token) -> None:
        tok = token.tok
        if tok in _MARKS:
            token.sentbreak = True
        elif _ELLIPSIS.match(tok):
            token.ellipsis = True
        elif tok.endswith(".") and not tok.endswith(".."):
            word = tok[:-1].lower()
            abbreviations = self.params.abbrev_types
            if word in abbreviations or word.split("-")[-1] in abbreviations:
                token.abbr = True
            else:
                token.sentbreak = True

    def _second_pass(self, token: _Token, following: _Token) -> None:
        if not token.tok.endswith("."):
            return
        params = self.params
        kind, next_kind = token.type_no_period, following.type_no_sentperiod
        initial = _INITIAL.match(token.tok) is not None
        if (kind, next_kind) in params.collocations:
            token.sentbreak, token.abbr = False, True
            return
        if (token.abbr or token.ellipsis) and not initial:
            starts = self._starts_sentence(following)
            if starts is True or (following.tok[0].isupper() and next_kind in params.sent_starters):
                token.sentbreak = True
                return
        if initial or kind == "##number##":
            starts = self._starts_sentence(following)
            if starts is False or (
                starts is None
                and initial
                and following.tok[0].isupper()
                and not params.ortho_context.get(next_kind, 0) & _ORTHO_LC
            ):
                token.sentbreak, token.abbr = False, True

    def _starts_sentence(self, token: _Token) -> bool | None:
        """Punkt's orthographic heuristic; None where it cannot tell."""
        if token.tok in _PUNCTUATION:
            return False
        context = self.params.ortho_context.get(token.type_no_sentperiod, 0)
        first = token.tok[0]
        if first.isupper() and context & _ORTHO_LC and not context & _ORTHO_MID_UC:
            return True
        if first.islower() and (context & _ORTHO_UC or not context & _ORTHO_BEG_LC):
            return False
        return None


def _remembered(memory: dict[str, bool], key: str, decide: Callable[[str], bool]) -> bool:
    decision = memory.get(key)
    if decision is None:
        if len(memory) >= _MAX_REMEMBERED:  # bounded, for texts of any size
            memory.clear()
        decision = memory[key] = decide(key)
    return decision


@functools.cache
def english_rules() -> BreakRules:
    return BreakRules(english_parameters())


# -- scanning a text that arrives in pieces -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int  # offsets into everything fed so far
    end: int
    ends_paragraph: bool


class _Wait(Exception):  # control flow only: it never leaves the scanner
    """The decision at hand needs text that has not arrived yet."""

    def __init__(self, settled: int) -> None:
        self.settled = settled


class SentenceScanner:
    """Sentence boundaries of a text fed in pieces, each reported once it is certain.

    `feed()` and `close()` return the sentences completed by that call. Whatever the pieces,
    the sentences add up to `sentence_spans(whole text)`. `settled` is an offset no sentence
    can end before any more, other than those already reported: the text before it belongs to
    a known sentence, so a reader may show it.
    """

    def __init__(self, rules: BreakRules | None = None) -> None:
        self._rules = rules or english_rules()
        self._text = ""
        self._pos = 0  # everything before has been scanned
        self._sentence_start: int | None = None  # None: between paragraphs
        self._unplaced: int | None = None  # a sentence end; does its paragraph end too?
        self.settled = 0
        self._closed = False

    @property
    def text(self) -> str:
        return self._text

    def feed(self, text: str) -> list[Sentence]:
        if self._closed:
            raise RuntimeError("feed() after close()")
        self._text += text
        return self._scan(final=False)

    def close(self) -> list[Sentence]:
        if self._closed:
            return []
        self._closed = True
        return self._scan(final=True)

    def _scan(self, *, final: bool) -> list[Sentence]:
        found: list[Sentence] = []
        try:
            while self._step(found, final):
                pass
            self.settled = _rstripped(self._text, len(self._text))
        except _Wait as wait:
            self.settled = wait.settled
        return found

    def _step(self, found: list[Sentence], final: bool) -> bool:
        """Decide the next thing in the text; False at the end of what has arrived."""
        text = self._text
        if self._sentence_start is None:  # between paragraphs
            start = _NON_SPACE.search(text, self._pos)
            if start is None:
                self._pos = len(text)
                return False
            self._sentence_start = self._pos = start.start()
            return True
        if self._unplaced is not None:
            return self._place(found, final)
        stop = _NEXT_STOP.search(text, self._pos)
        if stop is None:
            self._pos = len(text)
            if final:
                self._end_paragraph(found, len(text))
            return False
        if stop.group() == "\n":
            return self._newline(found, stop.start(), final)
        try:
            return self._candidate(stop.start(), final)
        except _Wait:
            # A sentence can only end at or after this word's first mark.
            raise _Wait(stop.start() + 1) from None

    def _newline(self, found: list[Sentence], at: int, final: bool) -> bool:
        text = self._text
        rest = _SPACES_AND_TABS.match(text, at + 1).end()  # type: ignore[union-attr]
        if rest == len(text) and not final:
            raise _Wait(_rstripped(text, at))
        if rest < len(text) and text[rest] == "\n":  # a blank line: the paragraph ends
            self._end_paragraph(found, at)
            self._pos = rest + 1
        else:
            self._pos = at + 1
        return True

    def _candidate(self, at: int, final: bool) -> bool:
        """A mark at `at`: find the last candidate of its word, then ask Punkt about it."""
        text = self._text
        space = _ASCII_SPACE.search(text, at)
        if space is None and not final:
            raise _Wait(at + 1)
        word_end = space.start() if space else len(text)
        candidate, follow = None, None
        for mark in range(word_end - 1, at - 1, -1):
            if text[mark] in _MARKS and (follow := self._following(mark, final)) is not None:
                candidate = mark
                break
        if candidate is None or follow is None:
            self._pos = word_end
            return True
        after, next_start = follow
        before = text[_word_start(text, candidate) : candidate + 1]
        spaced = next_start > candidate + 1  # whitespace, then the next token
        rules = self._rules
        if not (
            (spaced and rules.breaks_whatever_follows(before))
            or rules.contains_break(before + after)
        ):
            self._pos = word_end
            return True
        self._unplaced = self._realign(candidate + 1, next_start, final)
        self._pos = max(word_end, self._unplaced)
        return True

    def _following(self, mark: int, final: bool) -> tuple[str, int] | None:
        """What makes `mark` a candidate: (Punkt's text after it, where the next sentence would
        start); None when it is not one (a letter follows, or the paragraph ends)."""
        text = self._text
        if mark + 1 == len(text):
            if final:
                return None
            raise _Wait(mark + 1)
        char = text[mark + 1]
        if char in _NON_WORD:
            return char, mark + 1
        if not char.isspace():
            return None
        space = _SPACE_RUN.match(text, mark + 1)
        assert space is not None
        if _BLANK_LINE.search(text, mark + 1, space.end()):
            return None  # the paragraph ends here: Punkt sees no next token
        if space.end() == len(text):
            if final:
                return None
            raise _Wait(mark + 1)
        token = _TOKEN_RUN.match(text, space.end())
        assert token is not None
        # The next token may go on, but most breaks do not depend on it.
        before = text[_word_start(text, mark) : mark + 1]
        if (
            token.end() == len(text)
            and not final
            and not self._rules.breaks_whatever_follows(before)
        ):
            raise _Wait(mark + 1)
        return text[mark + 1 : token.end()], token.start()

    def _realign(self, mark_end: int, next_start: int, final: bool) -> int:
        """Where the sentence ends: closing quotes and brackets at the start of the next one
        belong to the sentence they close when whitespace, "--" or the paragraph's end follows
        them."""
        text = self._text
        closers = _CLOSER_RUN.match(text, next_start)
        if closers is None:
            return mark_end
        after = closers.end()
        if after == len(text):
            if not final:
                raise _Wait(mark_end)
            return after
        if text[after].isspace() or text.startswith("--", after):
            return after
        if text[after] == "-" and after + 1 == len(text) and not final:
            raise _Wait(mark_end)
        return mark_end

    def _place(self, found: list[Sentence], final: bool) -> bool:
        """A sentence end is known; what follows it says whether its paragraph ends too."""
        assert self._unplaced is not None and self._sentence_start is not None
        end, text = self._unplaced, self._text
        rest = _NON_SPACE.search(text, end)
        blank = _BLANK_LINE.search(text, end, rest.start() if rest else len(text))
        if rest is None and blank is None and not final:
            raise _Wait(end)
        self._unplaced = None
        ends_paragraph = rest is None or blank is not None
        found.append(Sentence(self._sentence_start, end, ends_paragraph))
        if ends_paragraph:
            self._sentence_start = None
            self._pos = blank.end() if blank else len(text)
        else:  # the next sentence starts at the next word
            assert rest is not None
            self._sentence_start = rest.start()
            self._pos = max(self._pos, rest.start())
        return True

    def _end_paragraph(self, found: list[Sentence], at: int) -> None:
        start, end = self._sentence_start, _rstripped(self._text, at)
        if start is not None and start < end:
            found.append(Sentence(start, end, ends_paragraph=True))
        self._sentence_start = None


def _word_start(text: str, mark: int) -> int:
    """Where Punkt's word before `mark` starts: after the last ASCII whitespace."""
    i = mark
    while i > 0 and text[i - 1] not in _ASCII_WHITESPACE:
        i -= 1
    return i


def _rstripped(text: str, at: int) -> int:
    """`at`, moved back over the whitespace before it."""
    while at > 0 and text[at - 1].isspace():
        at -= 1
    return at


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence of `text`, by the pipeline's rules."""
    scanner = SentenceScanner()
    sentences = scanner.feed(text) + scanner.close()
    return [(s.start, s.end) for s in sentences]


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, by the pipeline's rules (Punkt, never across a blank line)."""
    return [text[start:end] for start, end in sentence_spans(text)]
