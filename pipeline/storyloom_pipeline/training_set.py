"""Journal + chunks -> the chat-format training set (`storyloom-pipeline dataset`).

- `<out>/<split>.jsonl`: one `{"messages": [system, user, assistant]}` record per line, from
  `render_training_example` (the format Fireworks, OpenAI and TRL take).
- `save_to_disk(<out>)`: a DatasetDict with the chunk splits (by book) and, beside `messages`,
  where each example came from.
- `<out>/README.md`: a dataset card with counts, teacher model(s), cost and the prompt format.
- optional `push_to_hub`.

A journal row whose chunk is no longer in the chunk dataset, or whose chunk text changed since
(its prompt hash no longer matches), is left out and counted as stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyloom import prompting
from storyloom_pipeline.reasoning.chunk_source import Chunk, load_chunks, result_key
from storyloom_pipeline.reasoning.journal import Journal, Result, Spend

SPLIT_ORDER = ("train", "validation", "test")


@dataclass
class TrainingSetReport:
    out: Path
    rows_per_split: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    stale: int = 0
    teacher_models: list[str] = field(default_factory=list)
    spend: Spend | None = None


def build_training_set(chunks_path: Path, journal_path: Path, out: Path) -> TrainingSetReport:
    import datasets

    chunks = {chunk.chunk_id: chunk for chunk in load_chunks(chunks_path)}
    report = TrainingSetReport(out=out)
    rows: dict[str, list[dict[str, Any]]] = {}
    with Journal(journal_path) as journal:
        for result in journal.results():
            chunk = chunks.get(result.chunk_id)
            if chunk is None or result_key(chunk, result.mode, result.model) != result.key:
                report.stale += 1
                continue
            rows.setdefault(chunk.split, []).append(_row(chunk, result))
            report.modes[result.mode] = report.modes.get(result.mode, 0) + 1
        report.spend = journal.spend()
        report.teacher_models = journal.models()
    for split_rows in rows.values():
        split_rows.sort(key=lambda r: (r["book_id"], r["chunk_index"], r["mode"]))
    ordered = sorted(rows, key=lambda s: (*SPLIT_ORDER, s).index(s))
    out.mkdir(parents=True, exist_ok=True)
    for split in ordered:
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as file:
            for row in rows[split]:
                file.write(json.dumps({"messages": row["messages"]}, ensure_ascii=False) + "\n")
        report.rows_per_split[split] = len(rows[split])
    features = datasets.Features(
        {
            "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
            "book_id": datasets.Value("string"),
            "chunk_index": datasets.Value("int64"),
            "mode": datasets.Value("string"),
            "guidance": datasets.Value("string"),
            "teacher_model": datasets.Value("string"),
            "format_version": datasets.Value("string"),
        }
    )
    dataset = datasets.DatasetDict(
        {split: datasets.Dataset.from_list(rows[split], features=features) for split in ordered}
    )
    dataset.save_to_disk(str(out))
    (out / "README.md").write_text(render_card(report), encoding="utf-8")
    return report


def _row(chunk: Chunk, result: Result) -> dict[str, Any]:
    record = prompting.render_training_example(
        chunk.context, chunk.continuation, result.monologue, result.guidance
    )
    return {
        "messages": record["messages"],
        "book_id": chunk.book_id,
        "chunk_index": chunk.chunk_index,
        "mode": result.mode,
        "guidance": result.guidance,
        "teacher_model": result.served_model,
        "format_version": prompting.PROMPT_FORMAT_VERSION,
    }


def push(out: Path, repo_id: str, *, private: bool = True) -> None:
    """Upload the saved DatasetDict and its card (the token comes from HF_TOKEN or the
    huggingface-cli login, never from an argument)."""
    import datasets
    from huggingface_hub import HfApi

    datasets.load_from_disk(str(out)).push_to_hub(repo_id, private=private)
    HfApi().upload_file(
        path_or_fileobj=str(out / "README.md"),
        path_in_repo="README.md",
        repo_id=repo_id,
        repo_type="dataset",
    )


def render_card(report: TrainingSetReport) -> str:
    import yaml

    total = sum(report.rows_per_split.values())
    spend = report.spend
    metadata = {
        "pretty_name": "Storyloom creative reasoning (CRA) training set",
        "license": "other",
        "license_name": "public-domain-us",
        "task_categories": ["text-generation"],
        "tags": ["storyloom", "creative-writing", "reasoning", "synthetic", "chat"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": split, "path": f"{split}.jsonl"} for split in report.rows_per_split
                ],
            }
        ],
        "storyloom": {
            "prompt_format_version": prompting.PROMPT_FORMAT_VERSION,
            "teacher_models": report.teacher_models,
            "examples": dict(report.rows_per_split),
            "modes": dict(report.modes),
            "teacher_cost_usd": round(spend.cost, 6) if spend else None,
            "teacher_prompt_tokens": spend.prompt_tokens if spend else None,
            "teacher_completion_tokens": spend.completion_tokens if spend else None,
        },
    }
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    lines = [
        "# Storyloom creative reasoning training set",
        "",
        "Chat-format examples for Storyloom's creative reasoning assistant: the user turn is the "
        "story so far (optionally with a one-sentence guidance), the assistant turn is the "
        "author's reconstructed internal monologue in `<reasoning>` followed by the book's own "
        "continuation in `<answer>`. Splits follow the chunk dataset (by book).",
        "",
        f"- Prompt format: `{prompting.PROMPT_FORMAT_VERSION}`",
        f"- Teacher model(s): {', '.join(report.teacher_models) or 'none'}",
        f"- Examples: {total} ("
        + ", ".join(f"{s}: {n}" for s, n in report.rows_per_split.items())
        + ")",
        f"- Modes: {', '.join(f'{m}: {n}' for m, n in report.modes.items()) or 'none'}",
    ]
    if spend:
        cost = f"${spend.cost:.4f}" + ("" if spend.cost_known else " (incomplete)")
        lines.append(
            f"- Teacher spend: {cost}, {spend.prompt_tokens} prompt and "
            f"{spend.completion_tokens} completion tokens (rejected outputs included)"
        )
    if report.stale:
        lines.append(f"- Left out: {report.stale} journal rows whose chunk is gone or changed")
    return f"---\n{front}---\n\n" + "\n".join(lines) + "\n"
