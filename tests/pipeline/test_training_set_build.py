"""`storyloom-pipeline dataset`: JSONL + DatasetDict with the chunk splits, and the card."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from openai_fake import FakeOpenAI
from reason_helpers import SMALL, reason_argv, write_chunks

from storyloom import prompting
from storyloom_pipeline.cli import main


def test_dataset_keeps_the_chunk_splits_and_writes_a_card(tmp_path: Path) -> None:
    import datasets

    chunks = write_chunks(tmp_path / "chunks", SMALL)
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI() as server:
        assert main(reason_argv(chunks, journal, server.url)) == 0
        assert main([*reason_argv(chunks, journal, server.url), "--mode", "guided"]) == 0
    out = tmp_path / "out"
    assert (
        main(["dataset", "--chunks", str(chunks), "--journal", str(journal), "--out", str(out)])
        == 0
    )
    saved = datasets.load_from_disk(str(out))
    assert {split: len(part) for split, part in saved.items()} == {
        "train": 24,
        "validation": 4,
        "test": 4,
    }
    assert set(saved["validation"]["book_id"]) == {"13"}
    assert set(saved["test"]["book_id"]) == {"14"}
    for split, part in saved.items():
        records = [json.loads(line) for line in (out / f"{split}.jsonl").open(encoding="utf-8")]
        assert records == [{"messages": m} for m in part["messages"]]
    guided = [row for row in saved["train"] if row["mode"] == "guided"]
    assert len(guided) == 12
    user = guided[0]["messages"][1]["content"]
    assert f"### Guidance: {guided[0]['guidance']}" in user
    card = (out / "README.md").read_text("utf-8")
    assert f"prompt_format_version: {prompting.PROMPT_FORMAT_VERSION}" in card
    assert "teacher/served-v1" in card and "train: 24" in card and "teacher_cost_usd" in card


def test_rows_of_changed_chunks_are_left_out(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 3}})
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI() as server:
        assert main(reason_argv(chunks, journal, server.url)) == 0
    with sqlite3.connect(journal) as db:  # a row from an older chunk text of 1#0
        db.execute("UPDATE results SET key = '1#0|0000' WHERE chunk_id = '1#0'")
    out = tmp_path / "out"
    assert (
        main(["dataset", "--chunks", str(chunks), "--journal", str(journal), "--out", str(out)])
        == 0
    )
    assert len((out / "train.jsonl").read_text("utf-8").splitlines()) == 2
    assert "1 journal rows whose chunk is gone or changed" in (out / "README.md").read_text()
