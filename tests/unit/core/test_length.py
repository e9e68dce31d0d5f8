"""The length limit: the answer is cut right after the chosen sentence or paragraph."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyloom.core.length import Length, LengthLimiter
from storyloom.core.sentences import SentenceScanner

ANSWER = (
    "She tied the boat to the iron ring. Mr. Hale was waiting on the steps, lamp in hand. "
    "“You came,” he said. “I did not think you would.”\n\n"
    "The stair was narrow. It smelled of oil and salt."
)


def limited(length: Length, chunks: list[str]) -> tuple[list[str], bool]:
    limiter = LengthLimiter(length)
    out = [limiter.feed(chunk) for chunk in chunks] + [limiter.close()]
    return out, limiter.reached


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (Length.SENTENCE, "She tied the boat to the iron ring."),
        (
            Length.FEW,
            "She tied the boat to the iron ring. Mr. Hale was waiting on the steps, lamp in "
            "hand. “You came,” he said.",
        ),
        (Length.PARAGRAPH, ANSWER.split("\n\n")[0]),
        (Length.SCENE, ANSWER),
        (Length.UNLIMITED, ANSWER),
    ],
)
def test_the_answer_ends_after_the_chosen_sentence(length: Length, expected: str) -> None:
    words = [word + " " for word in ANSWER.split(" ")]
    words[-1] = words[-1].rstrip()
    out, _ = limited(length, words)
    assert "".join(out) == expected


def test_the_limit_is_reached_as_soon_as_the_next_word_confirms_it() -> None:
    limiter = LengthLimiter(Length.SENTENCE)
    assert limiter.feed("She ran.") == "She ran."
    assert not limiter.reached
    assert limiter.feed(" ") == ""
    assert limiter.held == " "
    assert limiter.feed("Then") == ""  # "ran. Then": a sentence ended after "ran."
    assert limiter.reached
    assert limiter.held == ""
    assert limiter.feed(" more.") == ""


def test_an_abbreviation_is_held_until_the_next_word_decides_it() -> None:
    limiter = LengthLimiter(Length.SENTENCE)
    assert limiter.feed("He met Mr.") == "He met Mr."
    assert limiter.feed(" Hale") == ""  # "Mr. Hale": the same sentence, if "Hale" is whole
    assert limiter.held == " Hale"
    assert limiter.feed(" at noon.") == " Hale at noon."
    assert not limiter.reached


def test_the_limit_counts_labels_and_values() -> None:
    assert [(length.sentences, length.paragraphs) for length in Length] == [
        (1, None),
        (3, None),
        (None, 1),
        (20, None),
        (None, None),
    ]
    assert Length("few").label == "A few sentences (3)"


_PIECES = st.sampled_from(
    [
        *("She", "ran", "Mr.", "Hale", "J.", "“Go!”", "he", "said.", "Why?", "3.", "…", ",", "'"),
        *(" ", " ", "\n", "\n\n"),
    ]
)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, list[str], Length]:
    text = "".join(draw(st.lists(_PIECES, max_size=40))).lstrip()
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return text, chunks, draw(st.sampled_from(list(Length)))


@settings(max_examples=500, deadline=None)
@given(_cases())
def test_any_chunking_cuts_at_the_same_sentence_end(case: tuple[str, list[str], Length]) -> None:
    text, chunks, length = case
    out, reached = limited(length, chunks)
    scanner = SentenceScanner()
    sentences = scanner.feed(text) + scanner.close()
    ends = [s.end for s in sentences]
    if length.paragraphs is not None:
        ends = [s.end for s in sentences if s.ends_paragraph]
    target = length.sentences or length.paragraphs
    if target is not None and len(ends) >= target:
        assert "".join(out) == text[: ends[target - 1]]  # never mid-word: at a sentence end
        assert reached
    else:
        assert "".join(out) == text
        assert not reached
