"""Golden test: one chunk -> the exact training record, through `reason` and `dataset`."""

from __future__ import annotations

import json
from pathlib import Path

from openai_fake import FakeOpenAI
from reason_helpers import reason_argv

from storyloom_pipeline.cli import main

MONOLOGUE = (
    "Hale has waited long enough; the knock is the moment he stops pretending the storm is "
    "only weather. Let him speak first, plainly, and let the door be the choice."
)

EXPECTED = {
    "messages": [
        {"role": "system", "content": "You are a writer’s assistant."},
        {
            "role": "user",
            "content": "### System: You are a writer’s assistant.\n\n"
            "### Task: Understand how the story flows, what motivations the characters have and "
            "how they will interact with each other and the world as a step by step thought "
            "process before continuing the story.\n\n"
            "### Context:\nThe rain had not stopped. Someone knocked.\n",
        },
        {
            "role": "assistant",
            "content": f"<reasoning>{MONOLOGUE}</reasoning>"
            "<answer>“Open the door,” said Mr. Hale.</answer>",
        },
    ]
}


def test_one_chunk_gives_the_exact_training_record(tmp_path: Path) -> None:
    import datasets

    row = {
        "book_id": ["1342"],
        "title": ["T"],
        "author": ["A"],
        "chunk_index": [0],
        "context": ["  The rain had not stopped. Someone knocked.\n"],
        "continuation": ["“Open the door,” said Mr. Hale."],
        "char_start": [0],
        "char_end": [80],
        "format_version": ["x"],
    }
    chunks = tmp_path / "chunks"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(row)}).save_to_disk(str(chunks))
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI(reply=lambda prompt, attempt: f"\n{MONOLOGUE}\n") as server:
        assert main(reason_argv(chunks, journal, server.url)) == 0
    out = tmp_path / "out"
    assert (
        main(["dataset", "--chunks", str(chunks), "--journal", str(journal), "--out", str(out)])
        == 0
    )
    lines = (out / "train.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [EXPECTED]
    saved = datasets.load_from_disk(str(out))
    assert list(saved) == ["train"]
    assert saved["train"][0]["messages"] == EXPECTED["messages"]
    assert saved["train"][0]["teacher_model"] == "teacher/served-v1"
