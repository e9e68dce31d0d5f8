"""Windows of sentences on a small excerpt: sentences and chunk boundaries pinned."""

from __future__ import annotations

import dataclasses

import pytest

from storyloom_pipeline.books import Book
from storyloom_pipeline.chunks import CHUNK_FORMAT_VERSION, ChunkConfig, chunk_book, skip_reason
from storyloom_pipeline.sentences import SentenceSplitter

# Pride and Prejudice, chapter I (public domain), as a clean book: one line per paragraph.
EXCERPT = """\
CHAPTER I.

It is a truth universally acknowledged, that a single man in possession of a good fortune must \
be in want of a wife.

However little known the feelings or views of such a man may be on his first entering a \
neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is \
considered as the rightful property of some one or other of their daughters.

“My dear Mr. Bennet,” said his lady to him one day, “have you heard that Netherfield Park is \
let at last?”

Mr. Bennet replied that he had not.

“But it is,” returned she; “for Mrs. Long has just been here, and she told me all about it.”

Mr. Bennet made no answer.

“Do not you want to know who has taken it?” cried his wife, impatiently.

“You want to tell me, and I have no objection to hearing it.”

This was invitation enough."""

SENTENCES = [
    "CHAPTER I.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune "
    "must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that "
    "he is considered as the rightful property of some one or other of their daughters.",
    "“My dear Mr. Bennet,” said his lady to him one day, “have you heard that Netherfield Park "
    "is let at last?”",
    "Mr. Bennet replied that he had not.",
    "“But it is,” returned she; “for Mrs. Long has just been here, and she told me all about it.”",
    "Mr. Bennet made no answer.",
    "“Do not you want to know who has taken it?”",
    "cried his wife, impatiently.",
    "“You want to tell me, and I have no objection to hearing it.”",
    "This was invitation enough.",
]
BOOK = Book("1342", "Pride and Prejudice", "Jane Austen", "English", EXCERPT)


@pytest.fixture(scope="module")
def splitter(tmp_path_factory: pytest.TempPathFactory) -> SentenceSplitter:
    return SentenceSplitter(tmp_path_factory.mktemp("punkt"))


def test_sentences(splitter: SentenceSplitter) -> None:
    assert splitter.split(EXCERPT) == SENTENCES


def test_overlapping_windows(splitter: SentenceSplitter) -> None:
    """4 + 2 sentences, a new window every 3 sentences: windows at 0 and 3 (6 needs 12)."""
    chunks = chunk_book(BOOK, ChunkConfig(context=4, continuation=2, stride=3), splitter)
    assert (chunks.windows, chunks.skipped_non_prose) == (2, 0)
    first, second = chunks.rows
    assert first == {
        "book_id": "1342",
        "title": "Pride and Prejudice",
        "author": "Jane Austen",
        "chunk_index": 0,
        "context": EXCERPT[: EXCERPT.index("Mr. Bennet replied") - 2],
        "continuation": f"{SENTENCES[4]}\n\n{SENTENCES[5]}",
        "char_start": 0,
        "char_end": 629,
        "format_version": CHUNK_FORMAT_VERSION,
    }
    assert first["context"] == "\n\n".join(SENTENCES[:4])
    assert (second["chunk_index"], second["char_start"], second["char_end"]) == (1, 392, 731)
    assert second["context"] == "\n\n".join(SENTENCES[3:7])
    assert second["continuation"] == " ".join(SENTENCES[7:9])  # one paragraph, two sentences
    assert EXCERPT[second["char_start"] : second["char_end"]].startswith(second["context"])
    assert EXCERPT[second["char_start"] : second["char_end"]].endswith(second["continuation"])


def test_the_non_prose_rule_skips_a_window_and_leaves_a_gap(splitter: SentenceSplitter) -> None:
    """The heading is 1 of the first window's 4 context sentences: kept under "mostly" (more
    than half), skipped when at most a fifth may be non-prose."""
    config = ChunkConfig(context=4, continuation=2, stride=3, max_non_prose=0.2)
    chunks = chunk_book(BOOK, config, splitter)
    assert (chunks.windows, chunks.skipped_non_prose) == (2, 1)
    assert [row["chunk_index"] for row in chunks.rows] == [1]


def test_default_windows_do_not_overlap(splitter: SentenceSplitter) -> None:
    """3 + 2 sentences, stride 5: windows at sentences 0 and 5; the last sentence is left over."""
    chunks = chunk_book(BOOK, ChunkConfig(context=3, continuation=2), splitter)
    assert [row["chunk_index"] for row in chunks.rows] == [0, 1]
    assert chunks.rows[0]["char_end"] <= chunks.rows[1]["char_start"]
    boundaries = [(row["context"].split("\n\n")[0], row["continuation"]) for row in chunks.rows]
    assert boundaries == [
        (SENTENCES[0], f"{SENTENCES[3]}\n\n{SENTENCES[4]}"),
        (SENTENCES[5], f"{SENTENCES[8]}\n\n{SENTENCES[9]}"),
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {"context": 0},
        {"continuation": 0},
        {"stride": 0},
        {"max_non_prose": 1.5},
    ],
)
def test_bad_settings_are_refused(settings: dict) -> None:
    with pytest.raises(ValueError):
        ChunkConfig(**settings)


@pytest.mark.parametrize(
    ("language", "languages", "kept"),
    [
        ("English", ("en",), True),
        ("en", ("en",), True),
        ("English, French", ("fr",), True),
        ("German", ("en",), False),
        ("", ("en",), False),  # unknown: not taken for English
        ("", ("any",), True),
        ("German", ("any",), True),
    ],
)
def test_language_rule(language: str, languages: tuple[str, ...], kept: bool) -> None:
    book = dataclasses.replace(BOOK, language=language)
    assert (skip_reason(book, languages, fiction_only=True) is None) is kept
