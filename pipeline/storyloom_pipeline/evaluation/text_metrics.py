"""What can be measured on one generated reply, given the story it continues.

Every function here is pure and cheap, so the tests check each against crafted replies with
known answers. Words are lower-cased runs of letters and digits (an apostrophe inside a word,
straight or typographic, keeps it whole: "don’t" is one word); punctuation is not a word.

- format: `storyloom.prompting.parse_response`, the parser the app uses, and its malformations;
- pacing: the answer's length in sentences, by the pipeline's own splitter (Punkt, never
  across a blank line), against the length of the true continuation (20 sentences for the
  standard 80/20 chunks);
- echo: how much of the answer repeats the story it was given, word 8-gram by word 8-gram;
- repetition: distinct-n (unique n-grams / all n-grams) and how much the answer repeats itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ECHO_N = 8  # words: long enough that a shared 8-gram is a copy, not a coincidence
ECHO_SHARE = 0.5  # an answer half made of the context's 8-grams echoes it, wherever they are
REPEAT_N = 4
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SPACE = re.compile(r"\s+")


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def ngrams(items: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]


def distinct_n(items: Sequence[str], n: int) -> float | None:
    """Unique n-grams over all n-grams; None when the text has none (fewer than n words)."""
    grams = ngrams(items, n)
    return len(set(grams)) / len(grams) if grams else None


def repeated_ngram_share(items: Sequence[str], n: int = REPEAT_N) -> float | None:
    """The share of n-grams that repeat one seen earlier in the same text (rep-n)."""
    grams = ngrams(items, n)
    if not grams:
        return None
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


def repeated_sentence_share(sentences: Sequence[str]) -> float | None:
    """The share of sentences that say word for word what an earlier one said: a model stuck
    in a loop. None without sentences."""
    if not sentences:
        return None
    seen: set[str] = set()
    repeats = 0
    for sentence in sentences:
        key = _SPACE.sub(" ", sentence.strip().lower())
        repeats += key in seen
        seen.add(key)
    return repeats / len(sentences)


def copied_share(context_words: Sequence[str], answer_words: Sequence[str]) -> float | None:
    """The share of the answer's word 8-grams that also occur in the context; None when the
    answer is shorter than 8 words."""
    grams = ngrams(answer_words, ECHO_N)
    if not grams:
        return None
    in_context = set(ngrams(context_words, ECHO_N))
    return sum(gram in in_context for gram in grams) / len(grams)


def opens_with_echo(context_words: Sequence[str], answer_words: Sequence[str]) -> bool:
    """The answer's first 8 words repeat a passage of the context (the echo the app trims)."""
    if len(answer_words) < ECHO_N:
        return False
    return tuple(answer_words[:ECHO_N]) in set(ngrams(context_words, ECHO_N))


@dataclass(frozen=True)
class TextMetrics:
    """Everything measured on one text (an answer, or the human continuation for reference)."""

    sentences: int
    words: int
    distinct_1: float | None
    distinct_2: float | None
    distinct_3: float | None
    repeated_4grams: float | None
    repeated_sentences: float | None
    copied_share: float | None
    opens_with_echo: bool

    @property
    def echoes(self) -> bool:
        """Opens with a repeat of the context, or is half made of the context's 8-grams."""
        return self.opens_with_echo or (self.copied_share or 0.0) >= ECHO_SHARE


def measure_text(text: str, context: str, sentences: Sequence[str]) -> TextMetrics:
    """`sentences` is `text` split by the pipeline's splitter (passed in: the splitter loads
    nltk's Punkt model, which this module leaves to its caller)."""
    answer_words = words(text)
    context_words = words(context)
    return TextMetrics(
        sentences=len(sentences),
        words=len(answer_words),
        distinct_1=distinct_n(answer_words, 1),
        distinct_2=distinct_n(answer_words, 2),
        distinct_3=distinct_n(answer_words, 3),
        repeated_4grams=repeated_ngram_share(answer_words),
        repeated_sentences=repeated_sentence_share(sentences),
        copied_share=copied_share(context_words, answer_words),
        opens_with_echo=opens_with_echo(context_words, answer_words),
    )
