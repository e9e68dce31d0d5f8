"""The chunk dataset's card: README.md with Hugging Face YAML metadata, counts, sources, licence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from storyloom import prompting
from storyloom_pipeline.chunks import CHUNK_FORMAT_VERSION

if TYPE_CHECKING:
    from storyloom_pipeline.chunk_dataset import BookResult, BuildReport, BuildSettings

_LICENCE_NOTE = """\
The texts come from Project Gutenberg eBooks that are in the public domain in the United States.
Project Gutenberg's header, licence and trademark text were removed from every book, so what
is left is public-domain text, not a Project Gutenberg eBook; this dataset is not associated
with Project Gutenberg. Copyright laws differ between countries: check the status of each book
where you are before you use or share the dataset."""


def write_card(path: Path, report: BuildReport, settings: BuildSettings) -> None:
    path.write_text(render_card(report, settings), encoding="utf-8")


def render_card(report: BuildReport, settings: BuildSettings) -> str:
    metadata = yaml.safe_dump(_metadata(report, settings), sort_keys=False, allow_unicode=True)
    return f"---\n{metadata}---\n\n{_body(report, settings)}"


def _metadata(report: BuildReport, settings: BuildSettings) -> dict[str, Any]:
    total = sum(report.rows_per_split.values())
    chunks = settings.chunks
    return {
        "pretty_name": "Storyloom story chunks",
        "language": list(settings.languages),
        "license": "other",
        "license_name": "public-domain-us",
        "license_link": "https://www.gutenberg.org/policy/permission.html",
        "task_categories": ["text-generation"],
        "tags": ["storyloom", "project-gutenberg", "fiction", "story-continuation"],
        "size_categories": [_size_category(total)],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": split, "path": f"data/{split}.parquet"}
                    for split in report.rows_per_split
                ],
            }
        ],
        "dataset_info": {
            "splits": [
                {"name": split, "num_examples": count}
                for split, count in report.rows_per_split.items()
            ]
        },
        "storyloom": {
            "chunk_format_version": CHUNK_FORMAT_VERSION,
            "prompt_format_version": prompting.PROMPT_FORMAT_VERSION,
            "context_sentences": chunks.context,
            "continuation_sentences": chunks.continuation,
            "stride_sentences": chunks.step,
            "max_non_prose": chunks.max_non_prose,
            "fiction_only": settings.fiction_only,
            "seed": settings.seed,
            "split_fractions": list(settings.splits),
        },
    }


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return label
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def _body(report: BuildReport, settings: BuildSettings) -> str:
    chunks = settings.chunks
    books_per_split = report.books_per_split()
    lines = [
        "# Storyloom story chunks",
        "",
        f"Consecutive windows of {chunks.window} sentences from public-domain books: the first "
        f"{chunks.context} are the `context`, the next {chunks.continuation} the "
        f"`continuation` (stride {chunks.step} sentences). Made by `storyloom-pipeline chunks`; "
        f"chunk format `{CHUNK_FORMAT_VERSION}`, for prompt format "
        f"`{prompting.PROMPT_FORMAT_VERSION}`.",
        "",
        "| split | rows | books |",
        "|---|---:|---:|",
        *(
            f"| {split} | {count} | {books_per_split[split]} |"
            for split, count in report.rows_per_split.items()
        ),
        "",
        "Splits are by book: no book is in two splits.",
        "",
        "## Fields",
        "",
        "`book_id` (Project Gutenberg ebook number), `title`, `author`, `chunk_index` (the "
        "window's position in the book; skipped windows leave gaps), `context`, `continuation`, "
        "`char_start`/`char_end` (the window's offsets in the cleaned book text), "
        "`format_version`.",
        "",
        "## Rules",
        "",
        "- Cleaning: Project Gutenberg header and licence, illustrations, transcriber's notes, "
        "tables of contents and front/back matter removed; hard-wrapped prose re-flowed into "
        "paragraphs.",
        "- Sentences: nltk Punkt (English), never across a paragraph break.",
        f"- A window is skipped when more than {chunks.max_non_prose:g} of the sentences of its "
        "context, or of its continuation, come from non-prose paragraphs (headings, lists, "
        "tables, verse, bracketed notes).",
        f"- Languages: {', '.join(settings.languages)}"
        + ("; fiction only where catalogue subjects are known." if settings.fiction_only else "."),
        "",
        "## Sources",
        "",
        "| ebook | title | author | split | chunks | windows skipped as non-prose |",
        "|---|---|---|---|---:|---:|",
        *(
            f"| {book.book_id} | {_cell(book.title)} | {_cell(book.author)} | "
            f"{report.split_of_book[book.book_id]} | {len(book.rows)} | {book.skipped_non_prose} |"
            for book in report.books
            if book.book_id in report.split_of_book and book.rows
        ),
        "",
    ]
    skipped = [book for book in report.books if not book.rows]
    if skipped:
        lines += ["## Books without chunks", ""]
        lines += [
            f"- {_cell(book.book_id or book.source)} {_cell(book.title)}: {_no_chunks_reason(book)}"
            for book in skipped
        ]
        lines.append("")
    lines += ["## Licence", "", _LICENCE_NOTE, ""]
    return "\n".join(lines)


def _no_chunks_reason(book: BookResult) -> str:
    if book.skip_reason:
        return book.skip_reason
    if book.windows == 0:
        return "too short for one window"
    return f"all {book.windows} windows mostly non-prose"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
