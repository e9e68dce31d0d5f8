"""Reading manuscripts: encodings and line endings on the real Gutenberg books and on crafted
bytes; what is refused (binary, too large, unreadable) and with which message."""

from __future__ import annotations

import codecs
import csv
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storyloom.core import text_files
from storyloom.core.text_files import (
    FileProblem,
    ProblemKind,
    TextFormat,
    decode,
    encode,
    read_manuscript,
)

# MANIFEST's encoding -> what Storyloom detects. ASCII is valid UTF-8; the "latin-1" books
# (ISO-8859-1) have no byte in 0x80-0x9F, where Windows-1252 and Latin-1 differ, so reading
# them as Windows-1252 (the better guess for 8-bit prose) gives the same text.
DETECTED = {"utf-8": "utf-8", "ascii": "utf-8", "utf-8-sig": "utf-8-sig", "latin-1": "cp1252"}
NEWLINES = {"LF": "\n", "CRLF": "\r\n"}


@pytest.fixture(scope="module")
def manifest(gutenberg_dir: Path) -> list[dict[str, str]]:
    with (gutenberg_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as table:
        return list(csv.DictReader(table, delimiter="\t"))


def test_the_corpus_has_every_case(manifest: list[dict[str, str]]) -> None:
    assert {row["encoding"] for row in manifest} == set(DETECTED)
    assert {row["line_endings"] for row in manifest} == set(NEWLINES)


def test_real_books_are_read_in_their_encoding_and_line_endings(
    manifest: list[dict[str, str]], gutenberg_dir: Path
) -> None:
    for row in manifest:
        path = gutenberg_dir / f"{row['ebook_number']}.txt"
        check_book(path, row["encoding"], NEWLINES[row["line_endings"]])


def check_book(path: Path, encoding: str, newline: str) -> None:
    data = path.read_bytes()
    loaded = read_manuscript(path)
    assert loaded.format == TextFormat(DETECTED[encoding], newline), path.name
    assert "\r" not in loaded.text
    assert loaded.fingerprint.size == len(data)

    python_codec = "latin-1" if encoding == "latin-1" else encoding
    expected = data.decode(python_codec).replace("\r\n", "\n")
    assert loaded.text == expected, path.name
    saved = encode(loaded.text, loaded.format)
    if encoding == "latin-1":
        assert not any(0x80 <= byte <= 0x9F for byte in data)  # the premise of DETECTED
        assert loaded.format.is_guess
        assert "Windows-1252" in (loaded.format.notice(path.name) or "")
        # saved as UTF-8 in the book's own CRLF line endings
        assert saved == expected.replace("\n", "\r\n").encode("utf-8")
        assert decode(saved).format == TextFormat("utf-8", "\r\n")
    else:
        assert saved == data, path.name  # byte for byte, BOM and CRLF included
        assert loaded.format.notice(path.name) is None


def test_utf16_with_bom_both_byte_orders() -> None:
    text = "“Où est-il?” 😀 she asked.\r\nNobody knew.\r\n"
    for codec, encoding in (("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")):
        bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
        decoded = decode(bom + text.encode(codec), "story.txt")
        assert decoded.text == text.replace("\r\n", "\n")
        assert decoded.format == TextFormat(encoding, "\r\n")
        assert "UTF-16" in (decoded.format.notice("story.txt") or "")
        # written back as UTF-8, same line endings
        assert encode(decoded.text, decoded.format) == text.encode("utf-8")


def test_utf8_bom_is_kept_on_save() -> None:
    data = codecs.BOM_UTF8 + "Café\n".encode()
    decoded = decode(data)
    assert decoded.text == "Café\n"
    assert decoded.format.encoding == "utf-8-sig"
    assert encode(decoded.text, decoded.format) == data


def test_windows_1252_smart_quotes_and_the_latin1_fallback() -> None:
    decoded = decode(b"\x93Caf\xe9,\x94 she said \x96 twice.", "old.txt")
    assert decoded.text == "“Café,” she said – twice."
    assert decoded.format.encoding == "cp1252"
    # 0x81 is undefined in Windows-1252: only Latin-1 can read it
    decoded = decode(b"Caf\xe9 \x81", "odd.txt")
    assert decoded.text == "Café \x81"
    assert decoded.format.encoding == "latin-1"
    assert "Latin-1" in (decoded.format.notice("odd.txt") or "")


def test_one_stray_byte_in_a_utf8_file_is_read_as_windows_1252_alone() -> None:
    """The byte 0xE9 ("é" in Windows-1252) pasted into a UTF-8 manuscript with curly quotes:
    read as Windows-1252 it held an undefined byte (0x9D, in "”") and was refused as binary."""
    before = "“Où est-il ?” demanda-t-elle.\r\n\r\nPersonne ne répondit.\r\n".encode()
    data = before + b"Le caf\xe9 refroidit.\r\n"
    decoded = decode(data, "roman.txt")
    assert (
        decoded.text
        == "“Où est-il ?” demanda-t-elle.\n\nPersonne ne répondit.\nLe café refroidit.\n"
    )
    assert decoded.format == TextFormat("utf-8", "\r\n", stray_bytes=1, stray_lines=(4,))
    assert decoded.format.needs_checking and not decoded.format.is_guess
    assert decoded.format.notice("roman.txt") == (
        "“roman.txt” is UTF-8 except for 1 byte on line 4; Storyloom read it as Windows-1252. "
        "Check the characters there. Saving writes UTF-8."
    )
    # saved, it is all UTF-8: the stray byte is the "é" it was read as
    saved = encode(decoded.text, decoded.format.saved_as_utf8())
    assert saved == data.replace(b"\xe9", "é".encode())
    assert decode(saved).format == TextFormat("utf-8", "\r\n")


def test_accented_utf8_is_not_garbled_by_a_stray_byte() -> None:
    """No curly quotes: the whole file used to be read as Windows-1252, each "é" as "Ã©"."""
    data = "Café. Crème brûlée, déjà vu.\n".encode() * 3 + b"It\x92s late.\n"
    decoded = decode(data)
    assert decoded.text == "Café. Crème brûlée, déjà vu.\n" * 3 + "It’s late.\n"
    assert decoded.format.encoding == "utf-8"
    assert (decoded.format.stray_bytes, decoded.format.stray_lines) == (1, (4,))


def test_a_utf8_file_cut_in_the_middle_of_a_character() -> None:
    whole = "Naïve, déjà, “the end…”".encode()
    cut = whole[:-4]  # "…" is three bytes, "”" three more: two bytes of "…" are left
    decoded = decode(cut, "cut.md")
    assert decoded.text == "Naïve, déjà, “the end" + b"\xe2\x80".decode("cp1252")
    assert decoded.format.encoding == "utf-8"
    assert decoded.format.stray_bytes == 2
    assert "2 bytes on line 1; Storyloom read them" in (decoded.format.notice("cut.md") or "")


def test_many_stray_bytes_name_a_few_lines() -> None:
    data = "Déjà vu, naïve, façade, crème, brûlée.\n".encode() * 8
    data += b"".join(b"line \xe9%d\n" % n for n in range(7))  # 7 lines, one stray each
    decoded = decode(data, "s.md")
    assert decoded.format.stray_bytes == 7
    assert decoded.format.stray_lines == (9, 10, 11, 12, 13, 14, 15)
    assert "7 bytes on lines 9, 10, 11, 12, 13 and 2 more;" in (decoded.format.notice("s.md") or "")


def test_a_windows_1252_file_with_a_utf8_lookalike_stays_windows_1252() -> None:
    """ "ß" before a closing curly quote is the bytes DF 94: valid UTF-8 by chance. The file's
    other accented letters are not, and they decide."""
    text = "„Fußball?“ fragte er. Müde, schön, grün, Käse, Öl.\r\n„Ein Gruß“, sagte sie."
    data = text.encode("cp1252")
    assert b"\xdf\x93" in data  # "ß“" would read as one UTF-8 character
    decoded = decode(data)
    assert decoded.text == text.replace("\r\n", "\n")
    assert decoded.format == TextFormat("cp1252", "\r\n")


def test_a_utf8_bom_file_with_a_stray_byte_opens() -> None:
    data = codecs.BOM_UTF8 + "“Oui.”\n".encode() + b"Caf\xe9\n"
    decoded = decode(data, "bom.txt")
    assert decoded.text == "“Oui.”\nCafé\n"
    assert decoded.format == TextFormat("utf-8-sig", "\n", stray_bytes=1, stray_lines=(2,))
    assert encode(decoded.text, decoded.format) == codecs.BOM_UTF8 + "“Oui.”\nCafé\n".encode()


def test_the_binary_check_reads_stray_bytes_as_they_were_read() -> None:
    """Bytes undefined in Windows-1252 become C1 controls: many of them are not prose."""
    data = "Déjà vu. ".encode() * 40 + b"\x81\x8d\x8f\x90\x9d" * 40
    with pytest.raises(FileProblem) as caught:
        decode(data, "odd.bin")
    assert caught.value.kind is ProblemKind.BINARY


def test_line_endings_cr_only_and_mixed() -> None:
    old_mac = decode(b"one\rtwo\rthree")
    assert old_mac.text == "one\ntwo\nthree"
    assert old_mac.format.newline == "\r"
    assert encode(old_mac.text, old_mac.format) == b"one\rtwo\rthree"
    mixed = decode(b"a\r\nb\r\nc\nd")
    assert mixed.text == "a\nb\nc\nd"
    assert mixed.format.newline == "\r\n"
    assert mixed.format.mixed_newlines
    assert "mixes line endings" in (mixed.format.notice("m.txt") or "")
    assert decode(b"").format == TextFormat()


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # an image
        b"PK\x03\x04\x14\x00\x06\x00",  # a .docx (zip)
        b"\x01\x02\x03\x04\x05\x06\x07\x08" * 100 + b"text",  # controls, no NUL
        codecs.BOM_UTF16_LE + "a\x00b\x00".encode("utf-16-le"),  # NULs after decoding
    ],
    ids=["png", "docx", "controls", "utf16-nuls"],
)
def test_binary_files_are_refused_with_a_clear_message(data: bytes) -> None:
    with pytest.raises(FileProblem) as caught:
        decode(data, "scan.bin")
    assert caught.value.kind is ProblemKind.BINARY
    assert "does not look like text" in str(caught.value)
    assert "“scan.bin”" in str(caught.value)


def test_a_damaged_utf16_file_is_refused() -> None:
    with pytest.raises(FileProblem) as caught:
        decode(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8", "broken.txt")  # lone surrogate
    assert caught.value.kind is ProblemKind.UNREADABLE
    assert "damaged" in str(caught.value)


def test_prose_with_a_form_feed_and_a_stray_control_is_still_text() -> None:
    text = "Chapter 1\f\n" + "It was a quiet night. " * 200 + "\x07"
    assert decode(text.encode()).text == text


def test_large_files_ask_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "huge.txt"
    with big.open("wb") as out:
        out.truncate(text_files.LARGE_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(FileProblem) as caught:
        read_manuscript(big)
    assert caught.value.kind is ProblemKind.TOO_LARGE
    assert caught.value.size == text_files.LARGE_FILE_BYTES + 1
    assert "50 MB" in str(caught.value)

    monkeypatch.setattr(text_files, "LARGE_FILE_BYTES", 10)
    story = tmp_path / "story.txt"
    story.write_text("More than ten bytes of story.")
    with pytest.raises(FileProblem):
        read_manuscript(story)
    assert read_manuscript(story, allow_large=True).text == "More than ten bytes of story."


def test_unreadable_paths_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileProblem) as caught:
        read_manuscript(tmp_path / "missing.md")
    assert caught.value.kind is ProblemKind.NOT_FOUND
    with pytest.raises(FileProblem) as caught:
        read_manuscript(tmp_path)
    assert caught.value.kind is ProblemKind.NOT_A_FILE
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(FileProblem) as caught:
        read_manuscript(fifo)  # would block forever if it were read
    assert caught.value.kind is ProblemKind.NOT_A_FILE

    story = tmp_path / "story.md"
    story.write_text("secret")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(FileProblem) as caught:
        read_manuscript(story)
    assert caught.value.kind is ProblemKind.PERMISSION
    assert "not allowed to read “story.md” (permission denied)" in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    story = tmp_path / "story.md"
    story.write_text("secret")
    story.chmod(0)
    with pytest.raises(FileProblem) as caught:
        read_manuscript(story)
    assert caught.value.kind is ProblemKind.PERMISSION


# A leading U+FEFF would read as a BOM, and control characters as binary: neither is prose.
prose = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from("\n\t"),
    max_size=200,
)


@given(prose, st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from(["utf-8", "utf-8-sig"]))
def test_encode_then_decode_gives_the_text_back(text: str, newline: str, encoding: str) -> None:
    text_format = TextFormat(encoding, newline)
    decoded = decode(encode(text, text_format))
    assert decoded.text == text
    if "\n" in text:
        assert decoded.format == text_format
