"""The app's Punkt sentences: the pipeline's rules, on whole texts and on text split anywhere.

Agreement with the pipeline's own splitter on the Gutenberg corpus is measured in
tests/pipeline/test_app_sentences.py; these tests pin the rules and the streaming behaviour.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyloom.core.sentences import (
    SentenceScanner,
    english_parameters,
    sentence_spans,
    split_sentences,
)

from sentence_cases import PUNKT_CASES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *PUNKT_CASES,  # the pipeline's splitter is held to the same
        # closing quotes and brackets stay with the sentence they close
        ("(She left.) He stayed. “Go!” “No.”", ["(She left.)", "He stayed.", "“Go!”", "“No.”"]),
        ("Very bad acting!!! I promise.", ["Very bad acting!!!", "I promise."]),
        ("He waited... and waited. Then he left.", ["He waited... and waited.", "Then he left."]),
        ("J. S. Bach wrote it. Then", ["J. S. Bach wrote it.", "Then"]),
    ],
)
def test_punkt_rules(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_sentences_never_cross_a_blank_line() -> None:
    text = (
        "CHAPTER I\n\n  It was late. He slept.\n \n"
        "The wind is in the chimney,\nThe rain is on the pane.\n"
    )
    assert split_sentences(text) == [
        "CHAPTER I",
        "It was late.",
        "He slept.",
        "The wind is in the chimney,\nThe rain is on the pane.",
    ]
    assert sentence_spans(text)[:2] == [(0, 9), (13, 25)]


def test_each_sentence_says_whether_its_paragraph_ends() -> None:
    scanner = SentenceScanner()
    text = "One. Two.\n\nThree. “Four.”\n\n"
    sentences = scanner.feed(text) + scanner.close()
    assert [(text[s.start : s.end], s.ends_paragraph) for s in sentences] == [
        ("One.", False),
        ("Two.", True),
        ("Three.", False),
        ("“Four.”", True),
    ]


def test_a_sentence_is_reported_once_no_later_text_can_change_it() -> None:
    scanner = SentenceScanner()
    assert scanner.feed("He met Mr.") == []
    assert scanner.feed(" Dar") == []  # "Mr. Darling" ends a sentence, "Mr. Dart" does not
    assert scanner.settled == len("He met Mr.")
    assert scanner.feed("t") == []
    assert scanner.feed(" at noon. ") == []  # a new paragraph may follow
    sentences = scanner.feed("T")  # after a plain word, any next word ends the sentence
    assert [scanner.text[s.start : s.end] for s in sentences] == ["He met Mr. Dart at noon."]
    assert scanner.feed("he end") == []
    assert [scanner.text[s.start : s.end] for s in scanner.close()] == ["The end"]


def test_the_parameters_are_punkts_english_ones() -> None:
    params = english_parameters()
    assert {"mr", "mrs", "dr", "st", "jan"} <= params.abbrev_types
    assert "however" in params.sent_starters
    assert len(params.ortho_context) > 20_000


def test_feed_after_close_is_an_error() -> None:
    scanner = SentenceScanner()
    scanner.close()
    assert scanner.close() == []
    with pytest.raises(RuntimeError):
        scanner.feed("more")


# -- any split gives the same sentences ---------------------------------------------------------

_PIECES = st.sampled_from(
    [
        *("the", "He", "Mr.", "Mrs.", "Dr.", "St.", "J.", "a.", "p.m.", "etc.", "U.S.", "Jan."),
        *("3.", "1,000.", "Darling", "However", "I", "e.g.", "end.", "end!", "end?", "Why?!"),
        *("...", "…", "--", "—", "“", "”", "‘", "’", '"', "'", "(", ")", "[", "]", ",", ";"),
        *(" ", " ", " ", "  ", "\n", "\n\n", " \n \n", "\t", "\u00a0", "\r\n"),
    ]
)


@st.composite
def _split_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = "".join(draw(st.lists(_PIECES, max_size=40)))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    return text, [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@settings(max_examples=600, deadline=None)
@given(_split_texts())
def test_streaming_finds_the_sentences_of_the_whole_text(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    scanner = SentenceScanner()
    found = []
    settled = 0
    for chunk in chunks:
        new = scanner.feed(chunk)
        # Nothing reported later ends before what was settled earlier: shown text stays put.
        assert all(sentence.end >= settled for sentence in new)
        found += new
        assert scanner.settled >= settled  # and what was settled stays settled
        settled = scanner.settled
    found += scanner.close()
    assert [(s.start, s.end) for s in found] == sentence_spans(text)
