"""PG file conventions: encodings, header and licence markers in their real variants, metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyloom_pipeline.books import BookError, book_from_text, load_book
from storyloom_pipeline.books.gutenberg import decode_text, parse_header, split_gutenberg

PROSE = (
    "It was a dark and stormy night; the rain fell in torrents, except at occasional\n"
    "intervals, when it was checked by a violent gust of wind which swept up the streets.\n"
)


def pg_text(start: str, end: str, header: str = "Title: A Night\n\nAuthor: Anon\n\n") -> str:
    return (
        f"The Project Gutenberg EBook of A Night, by Anon\n\n{header}{start}\n\n{PROSE}\n"
        f"{end}\n\nSection 1. General Terms of Use and Redistributing Project Gutenberg-tm\n"
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café “quoted”\n".encode(), "Café “quoted”\n"),
        (b"\xef\xbb\xbfCaf\xc3\xa9\r\nnext\r\n", "Café\nnext\n"),  # UTF-8 with BOM, CRLF
        (b"Caf\xe9 na\xefve\r\n", "Café naïve\n"),  # latin-1 (PG "-8" files)
        (b"\x93Quoted\x94 \x97 dash\rold Mac\r", "“Quoted” — dash\nold Mac\n"),  # cp1252, CR
        (b"\x81\xe9", "\x81é"),  # not cp1252 either (0x81 is unassigned): latin-1
    ],
)
def test_decode_text(data: bytes, expected: str) -> None:
    assert decode_text(data) == expected


THE = "THE PROJECT GUTENBERG EBOOK A NIGHT"
THIS = "THIS PROJECT GUTENBERG EBOOK A NIGHT"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (f"*** START OF {THE} ***", f"*** END OF {THE} ***"),
        (f"*** START OF {THIS} ***", f"*** END OF {THIS} ***"),
        (f"***START OF {THE}***", f"***END OF {THE}***"),
        (f"***START OF {THE} IN THE\nCITY***", f"***END OF {THE} IN\nTHE CITY***"),
        (f"*** START OF {THIS} ***", "End of the Project Gutenberg EBook of A Night, by Anon"),
        (f"*** START OF {THIS} ***", "End of Project Gutenberg's A Night, by Anon"),
        (f"*** START OF {THIS} ***", "End of Project Gutenberg’s A Night, by Anon"),
        (
            "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*",
            "End of this Project Gutenberg Etext of A Night",
        ),
    ],
)
def test_every_marker_variant_leaves_only_the_body(start: str, end: str) -> None:
    parts = split_gutenberg(pg_text(start, end))
    assert parts.has_markers
    assert parts.body.strip() == PROSE.strip()
    book = book_from_text(pg_text(start, end), fallback_id="0")
    assert book.text == " ".join(PROSE.split())


def test_the_earliest_end_marker_wins() -> None:
    text = pg_text(
        "*** START OF THIS PROJECT GUTENBERG EBOOK A NIGHT ***",
        "End of the Project Gutenberg EBook of A Night\n\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK A NIGHT ***\n\n*** START: FULL LICENSE ***",
    )
    assert "End of" not in split_gutenberg(text).body


def test_header_fields_with_continuation_lines() -> None:
    header = (
        "The Project Gutenberg EBook of Jack Sheppard, by W. H. Ainsworth\n\n"
        "Title: Jack Sheppard\n       A Romance\n\nAuthor: William Harrison Ainsworth\n\n"
        "Release Date: July 6, 2005 [EBook #16215]\n\nLanguage: English\n\n"
    )
    meta = parse_header(header)
    assert (meta.ebook_id, meta.title, meta.author, meta.language) == (
        "16215",
        "Jack Sheppard: A Romance",
        "William Harrison Ainsworth",
        "English",
    )


def test_new_style_header_number_and_indented_update_line() -> None:
    header = (
        "Title: Pride and Prejudice\n\nAuthor: Jane Austen\n\n"
        "Release date: June 1, 1998 [eBook #1342]\n"
        "                Most recently updated: February 10, 2026\n\nLanguage: English\n"
    )
    meta = parse_header(header)
    assert (meta.ebook_id, meta.title, meta.language) == ("1342", "Pride and Prejudice", "English")


def test_header_without_fields_falls_back_to_the_first_line() -> None:
    meta = parse_header("Project Gutenberg's Etext of Paradise Lost, by John Milton\n\n")
    assert (meta.title, meta.author, meta.ebook_id) == ("Paradise Lost", "John Milton", "")


def test_load_book_reads_metadata_and_falls_back_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "pg4242.txt"
    text = pg_text(
        "*** START OF THE PROJECT GUTENBERG EBOOK A NIGHT ***",
        "*** END OF THE PROJECT GUTENBERG EBOOK A NIGHT ***",
        header="Title: A Night\n\nAuthor: Anon\n\nLanguage: English\n\n",
    )
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    book = load_book(path)
    assert (book.ebook_id, book.title, book.author, book.language) == (
        "4242",
        "A Night",
        "Anon",
        "English",
    )
    assert book.source == str(path)


def test_a_file_without_markers_is_an_error_unless_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(PROSE, encoding="utf-8")
    with pytest.raises(BookError, match="no Project Gutenberg START marker"):
        load_book(path)
    kept = load_book(path, keep_unmarked=True)
    assert kept.text == " ".join(PROSE.split())
    assert kept.ebook_id == "notes"


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BookError, match="cannot read"):
        load_book(tmp_path / "missing.txt")
    with pytest.raises(BookError, match="cannot read"):
        load_book(tmp_path)  # a folder
