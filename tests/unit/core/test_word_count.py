from __future__ import annotations

from pathlib import Path

import pytest

from storyloom.core.word_count import WordCounter, WordCounts, count_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("It was a dark night.", 5),
        ("“Don't,” she said — and left.", 5),
        ("He stopped—then ran.", 4),  # an em dash between two words
        ("well-known 1,200 ships", 3),
        ("* * *\n\n...", 0),  # a scene break is not words
        ("Où est-il? Über 😀 alles", 4),
        ("snake_case ___", 1),
    ],
)
def test_counts_words_as_a_novelist_does(text: str, words: int) -> None:
    assert count_words(text) == words


def test_the_status_text() -> None:
    assert WordCounts(1, 0, 0).describe() == "1 word"
    assert (
        WordCounts(12_345, 20, 345).describe() == "12,345 words · 20 selected · +345 this session"
    )
    assert WordCounts(10, 0, -3).describe() == "10 words · -3 this session"


def test_the_counter_remembers_paragraphs_and_agrees_with_a_full_count(
    gutenberg_dir: Path,
) -> None:
    text = (gutenberg_dir / "1342.txt").read_text(encoding="utf-8")
    counter = WordCounter()
    assert counter.count(text) == count_words(text)
    edited = text.replace("Elizabeth", "Lizzy—dear", 50) + "\nThe end."
    assert counter.count(edited) == count_words(edited)
    assert counter.count("") == 0
