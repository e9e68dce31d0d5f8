"""Books streamed from a Hugging Face dataset, on a local parquet folder and with no network."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storyloom_pipeline.books import BookError, load_book, read_book
from storyloom_pipeline.books.hf import hf_books
from storyloom_pipeline.cli import main

HEADERLESS = (
    "The lamps of the street came alight one by one behind the old lamplighter, who\n"
    "went on down the hill with his ladder and his little can of oil.\n"
)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def hf_folder(tmp_path: Path, gutenberg_dir: Path) -> Path:
    """A dataset folder like the Hub's Gutenberg sets: one row per book, one with its PG header
    and licence (Alice), one already stripped."""
    folder = tmp_path / "gutenberg-hf"
    (folder / "data").mkdir(parents=True)
    alice = (gutenberg_dir / "11.txt").read_bytes().decode("utf-8-sig")
    table = pa.table(
        {
            "id": ["11", "90002"],
            "text": [alice, HEADERLESS],
            "title": ["Alice in Wonderland", "The Lamplighter"],
            "author": ["Carroll, Lewis", "Ann Example"],
            "language": [["en"], ["en"]],
        }
    )
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
    return folder


def test_streams_books_through_load_dataset(hf_folder: Path, gutenberg_dir: Path) -> None:
    pending = list(hf_books(str(hf_folder)))
    assert [key.rsplit(":", 1)[-1] for key, _ in pending] == ["11", "90002"]
    alice, lamplighter = (make() for _, make in pending)
    # cleaned exactly as the file is, header metadata first
    assert alice == dataclasses.replace(
        load_book(gutenberg_dir / "11.txt"), source=f"hf:{hf_folder}"
    )
    assert (lamplighter.ebook_id, lamplighter.title, lamplighter.author) == (
        "90002",
        "The Lamplighter",
        "Ann Example",
    )
    assert lamplighter.language == "en"
    assert lamplighter.text == " ".join(HEADERLESS.split())


def test_a_missing_text_column_is_a_clear_error(hf_folder: Path) -> None:
    with pytest.raises(BookError, match="no 'body' column"):
        next(hf_books(str(hf_folder), text_column="body"))


def test_books_command_from_a_dataset_is_resumable(hf_folder: Path, tmp_path: Path, capsys) -> None:
    argv = ["books", "--hf-dataset", str(hf_folder), "--out", str(tmp_path / "books")]
    assert main(argv) == 0
    assert "2 books written" in capsys.readouterr().err
    assert read_book(tmp_path / "books" / "11.json").title == "Alice’s Adventures in Wonderland"
    assert main([*argv, "--limit", "1"]) == 0
    assert "0 books written to" in capsys.readouterr().err


def test_a_dataset_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    argv = ["books", "--hf-dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match="cannot open the dataset"):
        main(argv)
