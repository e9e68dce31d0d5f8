"""Every book of the shared corpus, cleaned: no PG text left, real prose at both ends, the
metadata of MANIFEST.tsv, and the poem and the non-fiction book handled by the documented rules."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import pytest

from storyloom_pipeline.books import Book, load_book
from storyloom_pipeline.books.local import read_catalog
from storyloom_pipeline.chunks import ChunkConfig, chunk_book, skip_reason
from storyloom_pipeline.sentences import SentenceSplitter

# The first and last sentence of each clean book, read and judged by hand: the book's own prose
# (a preface by the author or the edition's editor counts), never a title page or a colophon.
FIRST_AND_LAST = {
    "11": ("Alice was beginning to get very tired", "and the happy summer days."),
    "16": ("All children, except one, grow up.", "gay and innocent and heartless."),
    "26": ("Of Man's first disobedience, and the fruit\nOf", "took their solitary way."),
    "35": ("The Time Traveller (for so it will be", "still lived on in the heart of man."),
    "76": ("IN this book a number of dialects are used", "I been there before."),
    "84": ("You will rejoice to hear that no disaster", "lost in darkness and distance."),
    "98": ("It was the best of times, it was the worst", "to than I have ever known.”"),
    "174": ("The artist is the creator of beautiful things.", "they recognized who it was."),
    "219": ("The Nellie, a cruising yawl, swung to her", "the heart of an immense darkness."),
    "521": ("I was born in the year 1632, in the city", "in the Second Part of my Story."),
    "1342": ("Walt Whitman has somewhere a fine and just", "the means of uniting them."),
    "1661": ("To Sherlock Holmes she is always THE woman.", "with considerable success."),
    "2701": ("The pale Usher—threadbare in coat", "only found another orphan."),
    "14263": ("It is difficult to tell the story of Irish", 'we go in, Mrs. Francis Ravenel?"'),
    "16215": ("On the night of Friday, the 26th of November", "the inscription, which ran thus--"),
    "20203": ("We Americans devour eagerly any piece of", "at Ten Shillings a Year."),
    "25344": ("Much to the author’s surprise, and (if he", "gloomier than the shadow:—"),
}

LEFTOVERS = re.compile(
    r"project gutenberg|gutenberg\.(?:org|net)|\*\*\* ?(?:START|END)|FULL LICEN[CS]E"
    r"|This eBook is for the use of anyone|^Produced by|\[Illustration|Transcriber['’]?s? note"
    r"|pgdp\.net|Distributed Proofread|Character set encoding|Release date:",
    re.IGNORECASE | re.MULTILINE,
)


@pytest.fixture(scope="module")
def manifest(gutenberg_dir: Path) -> dict[str, dict[str, str]]:
    with (gutenberg_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        return {row["ebook_number"]: row for row in csv.DictReader(handle, delimiter="\t")}


@pytest.fixture(scope="module")
def books(gutenberg_dir: Path) -> dict[str, Book]:
    loaded = [load_book(path) for path in sorted(gutenberg_dir.glob("*.txt"))]
    return {book.ebook_id: book for book in loaded}


@pytest.fixture(scope="module")
def splitter(tmp_path_factory: pytest.TempPathFactory) -> SentenceSplitter:
    return SentenceSplitter(tmp_path_factory.mktemp("punkt"))


def test_the_corpus_is_all_there(books: dict[str, Book], manifest: dict) -> None:
    assert set(books) == set(manifest) == set(FIRST_AND_LAST)


@pytest.mark.parametrize("ebook_id", sorted(FIRST_AND_LAST, key=int))
def test_no_header_or_licence_text_survives(books: dict[str, Book], ebook_id: str) -> None:
    leftovers = [m.group() for m in LEFTOVERS.finditer(books[ebook_id].text)]
    assert not leftovers


@pytest.mark.parametrize("ebook_id", sorted(FIRST_AND_LAST, key=int))
def test_first_and_last_sentences_are_the_books_prose(
    books: dict[str, Book], splitter: SentenceSplitter, ebook_id: str
) -> None:
    sentences = splitter.split(books[ebook_id].text)
    first, last = FIRST_AND_LAST[ebook_id]
    assert sentences[0].startswith(first)
    assert sentences[-1].endswith(last)


def _words(text: str) -> list[str]:
    text = re.sub(r"\([^)]*\)", " ", text)  # "Mark Twain (Samuel Clemens)"
    return re.sub(r"[^\w]+", " ", text.casefold()).split()


@pytest.mark.parametrize("ebook_id", sorted(FIRST_AND_LAST, key=int))
def test_metadata_matches_the_manifest(
    books: dict[str, Book], manifest: dict, ebook_id: str
) -> None:
    """Titles as the header has them may add a subtitle ("Peter Pan: Peter Pan and Wendy") or
    "Complete"; authors may spell out initials ("James M. Barrie" for "J. M. Barrie")."""
    book, row = books[ebook_id], manifest[ebook_id]
    title, expected_title = _words(book.title), _words(row["title"])
    main_title = _words(re.split(r"[(:]", row["title"])[0])
    assert title[: len(main_title)] == main_title
    assert set(expected_title) <= set(title)
    author, expected_author = _words(book.author), _words(row["author"])
    assert author[-1] == expected_author[-1]  # surname
    assert [w[0] for w in author] == [w[0] for w in expected_author]  # initials
    assert book.language == row["language"] == "English"


def test_the_poem_is_verse_and_gives_no_chunks(
    books: dict[str, Book], splitter: SentenceSplitter
) -> None:
    """Paradise Lost keeps its lines, so every window is non-prose: skipped by the rule, with no
    catalogue needed."""
    poem = books["26"]
    verse = sum(len(p) for p in poem.text.split("\n\n") if "\n" in p)
    assert verse > 0.99 * len(poem.text)  # all but the "Book II" headings
    chunks = chunk_book(poem, ChunkConfig(), splitter)
    assert chunks.windows > 10
    assert chunks.rows == []
    assert chunks.skipped_non_prose == chunks.windows


def test_the_non_fiction_book_is_left_out_by_its_catalogue_genre(
    books: dict[str, Book], gutenberg_dir: Path, splitter: SentenceSplitter
) -> None:
    """Franklin's autobiography is prose, so only its catalogue genre tells it apart; the rule
    reads the subjects a catalogue gives, and a bare PG file (no subjects) is kept."""
    catalog = read_catalog(gutenberg_dir / "MANIFEST.tsv")
    franklin = dataclasses.replace(books["20203"], subjects=catalog["20203"])
    assert skip_reason(franklin, ("en",), fiction_only=True) == "not fiction (subjects: nonfiction)"
    assert skip_reason(franklin, ("en",), fiction_only=False) is None
    assert skip_reason(books["20203"], ("en",), fiction_only=True) is None
    assert chunk_book(books["20203"], ChunkConfig(), splitter).rows
    poem = dataclasses.replace(books["26"], subjects=catalog["26"])
    assert skip_reason(poem, ("en",), fiction_only=True) == "not fiction (subjects: poetry)"
    fiction = dataclasses.replace(books["1342"], subjects=catalog["1342"])
    assert skip_reason(fiction, ("en",), fiction_only=True) is None
    assert skip_reason(fiction, ("fr",), fiction_only=True) == "language 'English' not in ['fr']"
