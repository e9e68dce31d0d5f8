"""The shared corpus through `books` and `chunks`: an 80/20 dataset split by book, with a card,
resumable, the same for one or two processes."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from storyloom.prompting import PROMPT_FORMAT_VERSION
from storyloom_pipeline.books import read_book
from storyloom_pipeline.chunk_dataset import (
    SPLIT_NAMES,
    BuildSettings,
    assign_splits,
    book_files,
    build_chunk_dataset,
)
from storyloom_pipeline.chunks import CHUNK_FORMAT_VERSION, ChunkConfig
from storyloom_pipeline.cli import main
from storyloom_pipeline.sentences import SentenceSplitter

# every book of the corpus but the poem (26) and the autobiography (20203)
FICTION = {"11", "16", "35", "76", "84", "98", "174", "219", "521", "1342", "1661", "2701"}
FICTION |= {"14263", "16215", "25344"}


def books_argv(gutenberg_dir: Path, out: Path) -> list[str]:
    catalog = gutenberg_dir / "MANIFEST.tsv"
    return ["books", "--from-dir", str(gutenberg_dir), "--catalog", str(catalog), "--out", str(out)]


@pytest.fixture(scope="module")
def books_dir(gutenberg_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("books")
    assert main(books_argv(gutenberg_dir, out)) == 0
    return out


@pytest.fixture(scope="module")
def dataset_dir(books_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    assert main(["chunks", "--books", str(books_dir), "--out", str(out), "--num-proc", "2"]) == 0
    return out


@pytest.fixture(scope="module")
def dataset(dataset_dir: Path) -> datasets.DatasetDict:
    return datasets.load_from_disk(str(dataset_dir))


@pytest.fixture(scope="module")
def splitter(tmp_path_factory: pytest.TempPathFactory) -> SentenceSplitter:
    return SentenceSplitter(tmp_path_factory.mktemp("punkt"))


def test_books_writes_one_clean_book_per_file_with_catalogue_subjects(books_dir: Path) -> None:
    files = book_files(books_dir)
    assert len(files) == 17
    franklin = read_book(books_dir / "20203.json")
    assert franklin.subjects == ("nonfiction",)
    assert franklin.title == "Autobiography of Benjamin Franklin"


def test_books_resumes_and_redoes_only_what_is_missing(
    books_dir: Path, gutenberg_dir: Path, capsys
) -> None:
    capsys.readouterr()
    assert main(["books", "--from-dir", str(gutenberg_dir), "--out", str(books_dir)]) == 0
    assert "0 books written" in capsys.readouterr().err
    alice = (books_dir / "11.json").read_bytes()
    (books_dir / "11.json").unlink()
    assert main(books_argv(gutenberg_dir, books_dir)) == 0
    assert "1 books written to" in capsys.readouterr().err
    assert (books_dir / "11.json").read_bytes() == alice


def test_every_chunk_is_80_then_20_sentences_of_its_book(
    dataset: datasets.DatasetDict, books_dir: Path, splitter: SentenceSplitter
) -> None:
    texts = {path.stem: read_book(path).text for path in book_files(books_dir)}
    rows = [row for split in SPLIT_NAMES for row in dataset[split]]
    assert len(rows) > 700
    for row in rows:
        text = texts[row["book_id"]]
        window = text[row["char_start"] : row["char_end"]]
        assert window.startswith(row["context"]) and window.endswith(row["continuation"])
        assert len(splitter.split(row["context"])) == 80
        assert len(splitter.split(row["continuation"])) == 20
        assert row["format_version"] == CHUNK_FORMAT_VERSION


def test_splits_are_by_book_and_hold_every_fiction_book(dataset: datasets.DatasetDict) -> None:
    books_of = {split: set(dataset[split]["book_id"]) for split in SPLIT_NAMES}
    assert all(books_of[split] for split in SPLIT_NAMES)
    assert not books_of["train"] & books_of["validation"]
    assert not books_of["train"] & books_of["test"]
    assert not books_of["validation"] & books_of["test"]
    assert set.union(*books_of.values()) == FICTION  # the poem and the autobiography are out
    total = sum(len(dataset[split]) for split in SPLIT_NAMES)
    assert 0.65 < len(dataset["train"]) / total < 0.9


def test_the_card_has_metadata_counts_sources_and_licence(
    dataset_dir: Path, dataset: datasets.DatasetDict
) -> None:
    card = (dataset_dir / "README.md").read_text(encoding="utf-8")
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["storyloom"]["prompt_format_version"] == PROMPT_FORMAT_VERSION
    assert meta["storyloom"]["chunk_format_version"] == CHUNK_FORMAT_VERSION
    assert meta["storyloom"]["context_sentences"] == 80
    assert meta["storyloom"]["continuation_sentences"] == 20
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == {
        split: len(dataset[split]) for split in SPLIT_NAMES
    }
    assert f"| train | {len(dataset['train'])} |" in body
    assert "| 2701 | Moby Dick; Or, The Whale | Herman Melville |" in body
    assert "- 26 Paradise Lost: not fiction (subjects: poetry)" in body
    assert "- 20203 Autobiography of Benjamin Franklin: not fiction" in body
    assert "public domain in the United States" in body


def test_parquet_files_hold_the_same_rows(dataset_dir: Path, dataset: datasets.DatasetDict) -> None:
    for split in SPLIT_NAMES:
        table = pq.read_table(dataset_dir / "data" / f"{split}.parquet")
        assert table.to_pylist() == dataset[split].to_list()


def test_same_dataset_with_one_process_and_on_resume(
    books_dir: Path, dataset: datasets.DatasetDict, tmp_path: Path, splitter: SentenceSplitter
) -> None:
    sources = book_files(books_dir)
    report = build_chunk_dataset(sources, tmp_path, BuildSettings(), num_proc=1, splitter=splitter)
    assert report.resumed == 0
    again = datasets.load_from_disk(str(tmp_path))
    assert all(again[split].to_list() == dataset[split].to_list() for split in SPLIT_NAMES)
    # one shard lost: only that book is chunked again
    shards = sorted((tmp_path / ".shards").rglob("*.json"))
    shards[0].unlink()
    report = build_chunk_dataset(sources, tmp_path, BuildSettings(), num_proc=1, splitter=splitter)
    assert report.resumed == len(sources) - 1
    again = datasets.load_from_disk(str(tmp_path))
    assert all(again[split].to_list() == dataset[split].to_list() for split in SPLIT_NAMES)


def test_other_settings_do_not_reuse_shards(
    books_dir: Path, tmp_path: Path, splitter: SentenceSplitter
) -> None:
    sources = book_files(books_dir)[:2]  # Alice and Peter Pan
    build_chunk_dataset(sources, tmp_path, BuildSettings(), splitter=splitter)
    wide = BuildSettings(chunks=ChunkConfig(context=40, continuation=10, stride=25))
    report = build_chunk_dataset(sources, tmp_path, wide, splitter=splitter)
    assert report.resumed == 0
    meta = yaml.safe_load((tmp_path / "README.md").read_text(encoding="utf-8").split("---\n")[1])
    assert meta["storyloom"]["stride_sentences"] == 25
    rows = datasets.load_from_disk(str(tmp_path))
    assert len(rows) < len(SPLIT_NAMES)  # two books cannot fill three splits: one is left out
    assert {len(splitter.split(r["context"])) for part in rows.values() for r in part} == {40}


def test_a_corpus_without_prose_gives_no_dataset_but_a_card(
    gutenberg_dir: Path, tmp_path: Path, capsys
) -> None:
    poems = tmp_path / "poems"
    poems.mkdir()
    (poems / "26.txt").symlink_to(gutenberg_dir / "26.txt")
    assert main(["chunks", "--books", str(poems), "--out", str(tmp_path / "out")]) == 1
    assert "no chunks from 26: no window of mostly prose" in capsys.readouterr().err
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "- 26 Paradise Lost: all 18 windows mostly non-prose" in card
    assert not (tmp_path / "out" / "dataset_dict.json").exists()


def test_assign_splits_is_by_book_seeded_and_follows_the_fractions() -> None:
    books = [(str(n), 10) for n in range(40)]
    first = assign_splits(books, (0.8, 0.1, 0.1), seed=1)
    assert first == assign_splits(list(reversed(books)), (0.8, 0.1, 0.1), seed=1)
    assert first != assign_splits(books, (0.8, 0.1, 0.1), seed=2)
    counts = {split: list(first.values()).count(split) for split in SPLIT_NAMES}
    assert counts == {"train": 32, "validation": 4, "test": 4}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chunks", "--books", "{empty}", "--out", "{out}"], "no \\*.json or \\*.txt books"),
        (["chunks", "--books", "{missing}", "--out", "{out}"], "not a folder"),
        (["chunks", "--books", "{empty}", "--out", "{out}", "--splits", "0.5,0.5"], "--splits"),
        (["chunks", "--books", "{empty}", "--out", "{out}", "--splits", "0.9,0.2,0.1"], "add up"),
        (["chunks", "--books", "{empty}", "--out", "{out}", "--context", "0"], "at least one"),
        (["books", "--from-dir", "{missing}", "--out", "{out}"], "not a folder"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, argv: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    paths = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "out": tmp_path / "o"}
    with pytest.raises(SystemExit, match=message):
        main([arg.format(**paths) for arg in argv])


def test_a_text_that_is_not_a_pg_book_is_skipped_and_reported(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "notes.txt").write_text("Just some notes, no Gutenberg markers.\n", encoding="utf-8")
    assert main(["books", "--from-dir", str(source), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no Project Gutenberg START marker" in err
    assert "0 books written" in err
    assert json.loads("[]") == list((tmp_path / "out").glob("*.json"))
