"""Cleaning a PG body: a golden book, then each rule on its own."""

from __future__ import annotations

import pytest

from storyloom_pipeline.books import book_from_text
from storyloom_pipeline.books.cleaning import clean_body
from storyloom_pipeline.books.paragraphs import is_prose, keeps_line_breaks

GOLDEN_SOURCE = """\
\ufeffThe Project Gutenberg eBook of The Lamplighter's Daughter

This eBook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever.

Title: The Lamplighter's Daughter
       A Tale

Author: Ann Example

Release date: May 1, 2001 [eBook #90001]

Language: English

*** START OF THE PROJECT GUTENBERG EBOOK THE LAMPLIGHTER'S DAUGHTER ***




Produced by A. Volunteer and the Online Distributed
Proofreading Team at http://www.pgdp.net




                      THE LAMPLIGHTER'S DAUGHTER

                                 BY

                             ANN EXAMPLE

                   [Illustration: THE LAMP IS LIT

                        (_Frontispiece_)]




CONTENTS

   I. THE LAMP                                            1
  II. THE STORM                                          14




Transcriber's Note: Obvious printer's errors have been corrected.

Italics are shown as _underscores_.




CHAPTER I.

THE LAMP


Mr. Hale came down the hill at dusk, as he had every evening for thirty
years, with his ladder on his shoulder and his little can of oil, and the
lamps of St. Anne's Street came alight behind him one by one--like a row
of slow, golden thoughts.

"Is it late, Father?" asked Meg from the doorway. "The bells have
not rung."

"It is never late for a lamp," said he.[1] "Only for the lamplighter."

    The wind is in the chimney,
    The rain is on the pane,
    And every lamp I light tonight
    Will have to burn again.

He sang it _under_ his breath, as he always did, and went in.

       *       *       *       *       *

[Illustration: MEG AT THE WINDOW]

The storm came in the night and took three lamps with it.

THE END




*** END OF THE PROJECT GUTENBERG EBOOK THE LAMPLIGHTER'S DAUGHTER ***

Section 1. General Terms of Use and Redistributing Project Gutenberg-tm
electronic works
"""

GOLDEN_TEXT = """\
Mr. Hale came down the hill at dusk, as he had every evening for thirty years, with his \
ladder on his shoulder and his little can of oil, and the lamps of St. Anne's Street came \
alight behind him one by one--like a row of slow, golden thoughts.

"Is it late, Father?" asked Meg from the doorway. "The bells have not rung."

"It is never late for a lamp," said he. "Only for the lamplighter."

The wind is in the chimney,
The rain is on the pane,
And every lamp I light tonight
Will have to burn again.

He sang it under his breath, as he always did, and went in.

* * *

The storm came in the night and took three lamps with it."""


def test_golden_book() -> None:
    book = book_from_text(GOLDEN_SOURCE, fallback_id="unused")
    assert (book.ebook_id, book.title, book.author, book.language) == (
        "90001",
        "The Lamplighter's Daughter: A Tale",
        "Ann Example",
        "English",
    )
    assert book.text == GOLDEN_TEXT


def test_illustrations_go_even_across_blank_lines_and_nested_brackets() -> None:
    body = (
        "First paragraph of the story, which is long enough to be the body of a book here.\n\n"
        "[Illustration:\n\n  A [large] plate\n\n  ]\n\n"
        "Second paragraph, with an inline [Illustration: a vignette] picture in it and more.\n"
    )
    assert clean_body(body) == (
        "First paragraph of the story, which is long enough to be the body of a book here.\n\n"
        "Second paragraph, with an inline picture in it and more."
    )


def test_a_transcribers_note_runs_to_the_end_of_its_section() -> None:
    body = (
        "The story begins with a sentence that is long enough to open the body of the book.\n\n"
        "The story ends with a sentence that is long enough to close the body of the book.\n\n\n\n"
        "TRANSCRIBER'S NOTES\n\nObvious errors have been corrected.\n\n\nTypos fixed:\n\n"
        "    page 12--changed 'teh' to 'the' in a sentence long enough to be mistaken for prose\n"
    )
    assert clean_body(body) == (
        "The story begins with a sentence that is long enough to open the body of the book.\n\n"
        "The story ends with a sentence that is long enough to close the body of the book."
    )


def test_a_pg_introduction_in_the_front_matter_goes_as_a_whole() -> None:
    body = (
        "This is the 1992 Project Gutenberg release of a poem.\n\n"
        "To give you an idea of how the original was typed: on cards, in capitals only, by\n"
        "students who took months over it and then sent it on to us for the release.\n\n\n\n\n"
        "BOOK I\n\n"
        "Of Man's first disobedience, and the fruit\nOf that forbidden tree whose mortal taste\n"
        "Brought death into the World, and all our woe,\nWith loss of Eden, till one greater Man\n"
        "Restore us, and regain the blissful seat,\nSing, Heavenly Muse, that, on the secret top\n"
        "Of Oreb, or of Sinai, didst inspire\nThat shepherd who first taught the chosen seed\n"
    )
    assert clean_body(body).startswith("Of Man's first disobedience, and the fruit\nOf that")


@pytest.mark.parametrize(
    ("lines", "keeps"),
    [
        (["Of Man's first disobedience, and the fruit", "Of that forbidden tree whose"], True),
        (["I. THE LAMP                 1", "II. THE STORM              14"], True),
        (
            ["It was the best of times, it was the worst of times, it was the age of", "wisdom"],
            False,
        ),
        (["Wendy came first, then John, then Michael."], False),
        (["The Author              xv"], True),
    ],
)
def test_keeps_line_breaks(lines: list[str], keeps: bool) -> None:
    assert keeps_line_breaks(lines, wrap=72) is keeps


@pytest.mark.parametrize(
    ("paragraph", "prose"),
    [
        ("Wendy came first, then John, then Michael.", True),
        ("“Hook! Hook!”", True),
        ("Her father considered a little before he answered:", True),
        (
            "It was the best of times, it was the worst of times, it was the age of wisdom, it was",
            True,
        ),
        ("It was the best of times, it was the worst of times, it was the age of wisdom", False),
        ("CHAPTER I. Down the Rabbit-Hole", False),
        ("Chapter I.", False),
        ("Book the First--Recalled to Life", False),
        ("THE END. YOURS TRULY, HUCK FINN.", False),
        ("The Widow and her Child.", False),
        ("Typos fixed:", False),
        ("[Transcriptions of newspaper pages]", False),
        ("The wind is in the chimney,\nThe rain is on the pane,", False),
        ("* * *", False),
        ("1703.", False),
    ],
)
def test_is_prose(paragraph: str, prose: bool) -> None:
    assert is_prose(paragraph) is prose


def test_an_unclosed_illustration_ends_with_its_paragraph() -> None:
    body = (
        "[Illustration: a plate whose closing bracket the transcriber forgot\n\n"
        "The story goes on here, and none of it may be lost to a missing bracket, not a word.\n"
    )
    assert clean_body(body) == (
        "The story goes on here, and none of it may be lost to a missing bracket, not a word."
    )
