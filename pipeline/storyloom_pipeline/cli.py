"""`storyloom-pipeline`: one command per pipeline stage.

Subcommands import their heavy dependencies (torch, transformers, …) only when they run, so
`--help` is instant and a missing `pipeline` extra is reported clearly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from storyloom import prompting
from storyloom_pipeline import __version__

if TYPE_CHECKING:
    from storyloom_pipeline.books.store import PendingBooks


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"storyloom-pipeline: cannot read {path}: {exc}") from exc


def _cmd_prompt(args: argparse.Namespace) -> int:
    """Print the exact text a model is given for a story, as the app would send it."""
    context = _read_text(args.context)
    messages = prompting.continuation_messages(context, args.guidance)
    if args.format == "user":
        out = messages[-1]["content"]
    elif args.format == "chatml":
        out = prompting.render_chatml(messages)
    else:
        out = json.dumps({"messages": messages}, ensure_ascii=False, indent=2) + "\n"
    sys.stdout.write(out)
    return 0


def _cmd_books(args: argparse.Namespace) -> int:
    """Fetch Project Gutenberg books and clean them into a folder: one JSON file per book
    (ebook_id, title, author, language, subjects, text). Re-running skips books already there.
    A file without PG markers is skipped and reported (--keep-unmarked keeps it whole)."""
    from tqdm import tqdm

    from storyloom_pipeline.books import BookError
    from storyloom_pipeline.books.gutendex import GutendexError
    from storyloom_pipeline.books.store import BookStore

    written, already, failures = 0, 0, []
    with contextlib.ExitStack() as resources:
        try:
            store = BookStore(Path(args.out))
            pending = _pending_books(args, resources)
            with tqdm(pending, desc="books", unit="book", disable=None) as progress:
                for source, make_book in progress:
                    if store.has(source):
                        already += 1
                        continue
                    try:
                        store.add(source, make_book())
                        written += 1
                    except (BookError, GutendexError) as exc:
                        failures.append(str(exc))
        except (BookError, GutendexError, OSError) as exc:
            raise SystemExit(f"storyloom-pipeline books: {exc}") from exc
    for failure in failures:
        print(f"skipped: {failure}", file=sys.stderr)
    print(
        f"{written} books written to {args.out}, {already} already there, {len(failures)} skipped",
        file=sys.stderr,
    )
    return 1 if failures and not (written or already) else 0


def _pending_books(args: argparse.Namespace, resources: contextlib.ExitStack) -> PendingBooks:
    if args.from_dir:
        from storyloom_pipeline.books.local import local_books, read_catalog

        catalog = read_catalog(Path(args.catalog)) if args.catalog else None
        return local_books(Path(args.from_dir), catalog=catalog, keep_unmarked=args.keep_unmarked)
    if args.gutendex:
        from platformdirs import user_cache_path

        from storyloom_pipeline.books.gutendex import GutendexClient, GutendexQuery, gutendex_books

        cache = Path(args.cache) if args.cache else user_cache_path("storyloom") / "gutendex"
        client = resources.enter_context(
            GutendexClient(cache, args.gutendex_url, min_interval=args.delay)
        )
        query = GutendexQuery(
            search=args.search,
            topic=args.topic,
            languages=tuple(_csv(args.languages)),
            ids=args.ids,
        )
        return gutendex_books(client, query, limit=args.limit, keep_unmarked=args.keep_unmarked)
    from storyloom_pipeline.books.hf import hf_books

    return hf_books(
        args.hf_dataset,
        config=args.hf_config,
        split=args.hf_split,
        text_column=args.text_column,
        id_column=args.id_column,
        limit=args.limit,
    )


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _ebook_ids(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _csv(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"ebook numbers, comma-separated, not {value!r}") from None


def _cmd_chunks(args: argparse.Namespace) -> int:
    """Cut books into windows of sentences, the first ones the context and the rest the
    continuation, and save them as a dataset split by book (save_to_disk, parquet, README.md).
    Re-running reuses the books already chunked with the same settings."""
    from tqdm import tqdm

    from storyloom_pipeline.books import BookError
    from storyloom_pipeline.chunk_dataset import BuildSettings, book_files, build_chunk_dataset
    from storyloom_pipeline.chunks import ChunkConfig

    try:
        settings = BuildSettings(
            chunks=ChunkConfig(
                context=args.context,
                continuation=args.continuation,
                stride=args.stride,
                max_non_prose=args.max_non_prose,
            ),
            languages=tuple(_csv(args.languages)),
            fiction_only=not args.all_genres,
            seed=args.seed,
            splits=_splits(args.splits),
        )
        sources = book_files(Path(args.books))
    except (ValueError, BookError) as exc:
        raise SystemExit(f"storyloom-pipeline chunks: {exc}") from exc
    if not sources:
        raise SystemExit(f"storyloom-pipeline chunks: no *.json or *.txt books in {args.books}")
    with tqdm(total=len(sources), desc="chunks", unit="book", disable=None) as progress:
        report = build_chunk_dataset(
            sources,
            Path(args.out),
            settings,
            num_proc=args.num_proc,
            on_book=lambda _: progress.update(),
        )
    books = report.books_per_split()
    for split, rows in report.rows_per_split.items():
        print(f"{split}: {rows} chunks from {books[split]} books", file=sys.stderr)
    for book in report.books:
        if not book.rows:
            reason = book.skip_reason or "no window of mostly prose"
            print(f"no chunks from {book.book_id or book.source}: {reason}", file=sys.stderr)
    if not report.rows_per_split:
        print(f"no chunks at all; see {Path(args.out) / 'README.md'}", file=sys.stderr)
        return 1
    print(f"dataset written to {args.out}", file=sys.stderr)
    return 0


def _splits(value: str) -> tuple[float, float, float]:
    parts = _csv(value)
    if len(parts) != 3:
        raise ValueError(f"--splits takes train,validation,test fractions, not {value!r}")
    train, validation, test = (float(part) for part in parts)
    return train, validation, test


def _cmd_reason(args: argparse.Namespace) -> int:
    """Have a teacher LLM reconstruct the author's internal monologue for every chunk, each
    result committed to a journal (SQLite) before it counts; a re-run does only what is left.
    The API key comes from the environment (--api-key-env) or the OS keyring, never an option."""
    from storyloom_pipeline.reasoning.command import run_reason

    return run_reason(args)


def _cmd_dataset(args: argparse.Namespace) -> int:
    """Build the chat-format training set from the chunks and the reasoning journal: JSONL per
    split, a DatasetDict (save_to_disk) with the chunk splits, and a dataset card."""
    from storyloom_pipeline.reasoning.chunk_source import ChunkSourceError
    from storyloom_pipeline.training_set import build_training_set, push

    if not Path(args.journal).is_file():
        raise SystemExit(f"storyloom-pipeline dataset: no journal at {args.journal}")
    try:
        report = build_training_set(Path(args.chunks), Path(args.journal), Path(args.out))
    except ChunkSourceError as exc:
        raise SystemExit(f"storyloom-pipeline dataset: {exc}") from exc
    for split, rows in report.rows_per_split.items():
        print(f"{split}: {rows} examples", file=sys.stderr)
    if report.stale:
        print(f"{report.stale} journal rows left out (chunk gone or changed)", file=sys.stderr)
    if args.push_to_hub:
        push(Path(args.out), args.push_to_hub, private=not args.public)
        print(f"pushed to {args.push_to_hub}", file=sys.stderr)
    print(f"training set written to {args.out}", file=sys.stderr)
    return 0 if report.rows_per_split else 1


def _cmd_modelfile(args: argparse.Namespace) -> int:
    """Render the Ollama Modelfiles of the recipes (TEMPLATE, SYSTEM and stop strings from
    storyloom.prompting; num_ctx and sampling from the recipe) into modelfiles/. --check writes
    nothing and fails when a committed Modelfile is stale, missing or made by no recipe."""
    from storyloom_pipeline.modelfile import ModelfileError, write_modelfiles
    from storyloom_pipeline.recipe import RecipeError

    recipes = [Path(path) for path in args.recipes] or None
    out = Path(args.out) if args.out else None
    try:
        report = write_modelfiles(recipes, out_dir=out, check=args.check)
    except (RecipeError, ModelfileError, OSError) as exc:
        raise SystemExit(f"storyloom-pipeline modelfile: {exc}") from exc
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        print("run `storyloom-pipeline modelfile` and commit the result", file=sys.stderr)
        return 1
    for path in report.written:
        print(f"wrote {path}", file=sys.stderr)
    print(f"{len(report.unchanged)} Modelfiles already up to date", file=sys.stderr)
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    """Create an Ollama model from a Modelfile through the Ollama server (OLLAMA_HOST or
    --host): each GGUF is uploaded once as a blob (skipped when the server has it), the model is
    created from the Modelfile's fields, optionally quantized, and with --push sent to
    ollama.com. --hf-repo also uploads the GGUFs with a model card to the Hugging Face Hub."""
    from storyloom_pipeline.publish import PublishError, TqdmProgress, make_client, publish

    modelfile = Path(args.modelfile)
    try:
        result = publish(
            modelfile,
            args.name,
            quantize=args.quantize,
            push=args.push,
            client=make_client(args.host),
            progress=TqdmProgress(),
        )
    except PublishError as exc:
        raise SystemExit(f"storyloom-pipeline publish: {exc}") from exc
    uploaded = sum(blob.uploaded for blob in result.blobs)
    print(
        f"created {result.model} ({uploaded} of {len(result.blobs)} files uploaded)",
        file=sys.stderr,
    )
    if result.url:
        print(f"pushed: {result.url}", file=sys.stderr)
    if args.hf_repo:
        from storyloom_pipeline.publish.hub import HubError, upload_to_hub

        try:
            url = upload_to_hub(
                modelfile, args.hf_repo, private=not args.hf_public, ollama_name=result.model
            )
        except HubError as exc:
            raise SystemExit(f"storyloom-pipeline publish: {exc}") from exc
        print(f"uploaded to the Hugging Face Hub: {url}", file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune a recipe's base model with LoRA (QLoRA when the recipe quantizes it) on the
    chat training set. The run folder keeps the resolved recipe, run.json (git commit, library
    versions), metrics.jsonl, checkpoints and the adapter; running the same command again
    resumes from the newest checkpoint. Several GPUs: put `accelerate launch --multi_gpu
    --num_processes N -m storyloom_pipeline` in front of `train ...` (see the recipe headers)."""
    from storyloom_pipeline.base_model import ModelSourceError
    from storyloom_pipeline.recipe import RecipeError, load_recipe
    from storyloom_pipeline.train import (
        DataError,
        RunFolder,
        RunFolderError,
        TrainingError,
        merge_adapter,
        train,
    )
    from storyloom_pipeline.train.model import process_state

    try:
        recipe = load_recipe(Path(args.recipe))
        run = RunFolder(Path(args.run_dir)) if args.run_dir else RunFolder.for_recipe(recipe.name)
        run_dir = run.path
        dataset = Path(args.dataset) if args.dataset else None
        result = train(recipe, run_dir, dataset=dataset)
        if not process_state().is_main_process:
            return 0
        print(
            f"{recipe.name}: {result.global_step} steps, loss {result.first_loss} -> "
            f"{result.last_loss}, eval loss {result.eval_loss}",
            file=sys.stderr,
        )
        seconds = ", ".join(f"{stage} {s:.1f}" for stage, s in result.seconds.items())
        print(f"seconds: {seconds or 'none (the run had finished before)'}", file=sys.stderr)
        print(f"adapter: {result.adapter_dir}", file=sys.stderr)
        if args.merge:
            start = time.perf_counter()
            merged = merge_adapter(
                result.adapter_dir,
                run.merged,
                base_model=recipe.base_model,
                dtype=recipe.dtype,
            )
            print(f"merged: {merged} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    except (RecipeError, DataError, RunFolderError, TrainingError, ModelSourceError) as exc:
        raise SystemExit(f"storyloom-pipeline train: {exc}") from exc
    except KeyboardInterrupt:
        raise SystemExit(
            "storyloom-pipeline train: interrupted; the same command resumes from the newest "
            "checkpoint"
        ) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storyloom-pipeline",
        description="Make Storyloom's creative reasoning models, stage by stage.",
    )
    parser.add_argument("--version", action="version", version=f"storyloom-pipeline {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prompt = commands.add_parser(
        "prompt",
        help=f"show the prompt a model gets for a story (format {prompting.PROMPT_FORMAT_VERSION})",
        description=_cmd_prompt.__doc__,
    )
    prompt.add_argument("context", help="a UTF-8 text file with the story so far, or - for stdin")
    prompt.add_argument("--guidance", help="one sentence saying what should happen next")
    prompt.add_argument(
        "--format",
        choices=("user", "chatml", "messages"),
        default="chatml",
        help="user turn only, the raw ChatML sent to Ollama (default), or chat messages as JSON",
    )
    prompt.set_defaults(func=_cmd_prompt)
    _add_books_parser(commands)
    _add_chunks_parser(commands)
    _add_reason_parser(commands)
    _add_dataset_parser(commands)
    _add_export_parsers(commands)
    _add_modelfile_parser(commands)
    _add_publish_parser(commands)
    _add_train_parser(commands)
    _add_eval_parser(commands)
    return parser


def _add_books_parser(commands: argparse._SubParsersAction) -> None:
    books = commands.add_parser(
        "books", help="fetch and clean Project Gutenberg books", description=_cmd_books.__doc__
    )
    source = books.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-dir", metavar="DIR", help="a folder of PG .txt files (offline)")
    source.add_argument("--gutendex", action="store_true", help="query the Gutendex catalogue")
    source.add_argument("--hf-dataset", metavar="NAME", help="a Hugging Face dataset or folder")
    books.add_argument("--out", required=True, metavar="DIR", help="folder for the clean books")
    books.add_argument(
        "--keep-unmarked", action="store_true", help="keep texts without PG markers whole"
    )
    books.add_argument("--limit", type=int, help="at most this many books (Gutendex, HF)")
    local = books.add_argument_group("--from-dir")
    local.add_argument(
        "--catalog", metavar="TSV", help="subjects/genre by ebook_number (e.g. MANIFEST.tsv)"
    )
    gutendex = books.add_argument_group("--gutendex")
    gutendex.add_argument("--search", help="words in titles and author names")
    gutendex.add_argument("--topic", help='a subject or bookshelf, e.g. "fiction"')
    gutendex.add_argument("--languages", default="en", help="language codes (default: en)")
    gutendex.add_argument("--ids", type=_ebook_ids, default=(), help="ebook numbers, e.g. 11,1342")
    gutendex.add_argument("--gutendex-url", default="https://gutendex.com", metavar="URL")
    gutendex.add_argument(
        "--delay", type=float, default=1.0, help="seconds between requests (default: 1)"
    )
    gutendex.add_argument("--cache", metavar="DIR", help="download cache (default: user cache)")
    hf = books.add_argument_group("--hf-dataset")
    hf.add_argument("--hf-config", help="the dataset's configuration")
    hf.add_argument("--hf-split", default="train", help="the split to stream (default: train)")
    hf.add_argument("--text-column", default="text", help="the column with the book text")
    hf.add_argument("--id-column", help="the column with the ebook number")
    books.set_defaults(func=_cmd_books)


def _add_chunks_parser(commands: argparse._SubParsersAction) -> None:
    chunks = commands.add_parser(
        "chunks",
        help="cut books into 80/20 sentence chunks and save a dataset",
        description=_cmd_chunks.__doc__,
    )
    chunks.add_argument(
        "--books", required=True, metavar="DIR", help="clean books (from `books`) or PG .txt files"
    )
    chunks.add_argument("--out", required=True, metavar="DIR", help="folder for the dataset")
    chunks.add_argument("--context", type=int, default=80, help="context sentences (default: 80)")
    chunks.add_argument(
        "--continuation", type=int, default=20, help="continuation sentences (default: 20)"
    )
    chunks.add_argument(
        "--stride", type=int, help="sentences from one window to the next (default: no overlap)"
    )
    chunks.add_argument(
        "--max-non-prose",
        type=float,
        default=0.5,
        help="skip a window when more of its context or continuation is non-prose (default: 0.5)",
    )
    chunks.add_argument(
        "--languages",
        default="en",
        help='languages to keep, codes or names, or "any" (default: en)',
    )
    chunks.add_argument(
        "--all-genres", action="store_true", help="keep books whose subjects say non-fiction"
    )
    chunks.add_argument("--num-proc", type=int, default=1, help="worker processes (default: 1)")
    chunks.add_argument("--seed", type=int, default=0, help="seed for the split (default: 0)")
    chunks.add_argument(
        "--splits", default="0.8,0.1,0.1", help="train,validation,test (default: 0.8,0.1,0.1)"
    )
    chunks.set_defaults(func=_cmd_chunks)


def _add_reason_parser(commands: argparse._SubParsersAction) -> None:
    reason = commands.add_parser(
        "reason", help="teacher-LLM reasoning for every chunk", description=_cmd_reason.__doc__
    )
    reason.add_argument(
        "--chunks", required=True, metavar="PATH", help="the chunk dataset (from `chunks`)"
    )
    reason.add_argument(
        "--journal", required=True, metavar="FILE", help="the SQLite journal (created if new)"
    )
    reason.add_argument(
        "--provider",
        choices=("openai", "ollama"),
        default="openai",
        help="an OpenAI-compatible endpoint (default) or Ollama's native API",
    )
    reason.add_argument(
        "--base-url",
        metavar="URL",
        help="the endpoint (default: OpenRouter; for Ollama: OLLAMA_HOST or localhost)",
    )
    reason.add_argument(
        "--model",
        default="deepseek/deepseek-chat",
        help="teacher (default: deepseek/deepseek-chat)",
    )
    reason.add_argument(
        "--api-key-env",
        default="OPENROUTER_API_KEY",
        metavar="NAME",
        help="environment variable with the API key (default: OPENROUTER_API_KEY)",
    )
    reason.add_argument(
        "--provider-routing",
        metavar="JSON",
        help="OpenRouter's provider object, e.g. '{\"allow_fallbacks\": false}'",
    )
    reason.add_argument("--provider-order", metavar="A,B", help="OpenRouter providers to try first")
    reason.add_argument(
        "--mode",
        choices=("plain", "guided"),
        default="plain",
        help="guided: a one-sentence guidance first, then a guided monologue",
    )
    reason.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    reason.add_argument("--timeout", type=float, default=120.0, help="seconds per request (120)")
    reason.add_argument("--max-attempts", type=int, default=8, help="tries per request (8)")
    reason.add_argument("--backoff", type=float, default=1.0, help="first backoff, seconds (1)")
    reason.add_argument(
        "--max-rejections",
        type=int,
        default=3,
        help="rejected outputs per chunk before giving up on it (3)",
    )
    reason.add_argument("--limit", type=int, help="at most this many chunks this run")
    reason.add_argument("--max-cost", type=float, metavar="USD", help="stop at this total spend")
    reason.add_argument("--temperature", type=float, help="sampling temperature")
    reason.add_argument("--max-tokens", type=int, help="completion token limit per request")
    reason.add_argument(
        "--price-prompt",
        type=float,
        default=0.0,
        metavar="USD",
        help="per million prompt tokens, when the provider reports no cost",
    )
    reason.add_argument(
        "--price-completion",
        type=float,
        default=0.0,
        metavar="USD",
        help="per million completion tokens, likewise",
    )
    reason.add_argument("-v", "--verbose", action="store_true", help="log retries and rejections")
    reason.set_defaults(func=_cmd_reason)


def _add_dataset_parser(commands: argparse._SubParsersAction) -> None:
    dataset = commands.add_parser(
        "dataset", help="build the chat-format training set", description=_cmd_dataset.__doc__
    )
    dataset.add_argument("--chunks", required=True, metavar="PATH", help="the chunk dataset")
    dataset.add_argument("--journal", required=True, metavar="FILE", help="the `reason` journal")
    dataset.add_argument("--out", required=True, metavar="DIR", help="folder for the training set")
    dataset.add_argument(
        "--push-to-hub", metavar="REPO", help="also upload to this HF dataset repo"
    )
    dataset.add_argument("--public", action="store_true", help="make the hub repo public")
    dataset.set_defaults(func=_cmd_dataset)


def _add_modelfile_parser(commands: argparse._SubParsersAction) -> None:
    modelfile = commands.add_parser(
        "modelfile",
        help="render the recipes' Ollama Modelfiles",
        description=_cmd_modelfile.__doc__,
    )
    modelfile.add_argument(
        "recipes", nargs="*", metavar="RECIPE", help="recipe files (default: pipeline/recipes/*)"
    )
    modelfile.add_argument("--out", metavar="DIR", help="folder for them (default: modelfiles)")
    modelfile.add_argument(
        "--check", action="store_true", help="write nothing; fail if a Modelfile is not current"
    )
    modelfile.set_defaults(func=_cmd_modelfile)


def _add_publish_parser(commands: argparse._SubParsersAction) -> None:
    publish = commands.add_parser(
        "publish", help="create (and push) an Ollama model", description=_cmd_publish.__doc__
    )
    publish.add_argument(
        "modelfile", metavar="MODELFILE", help="e.g. modelfiles/cra-v1-7b.Modelfile"
    )
    publish.add_argument("--name", required=True, help="user/model[:tag], e.g. molbal/cra-v1-7b")
    publish.add_argument("--quantize", help="q4_K_M, q4_K_S or q8_0 (FROM an F16/BF16/F32 GGUF)")
    publish.add_argument("--push", action="store_true", help="push the model to ollama.com")
    publish.add_argument("--host", help="the Ollama server (default: OLLAMA_HOST or localhost)")
    publish.add_argument("--hf-repo", metavar="REPO", help="also upload the GGUFs to this HF repo")
    publish.add_argument("--hf-public", action="store_true", help="make the HF repo public")
    publish.set_defaults(func=_cmd_publish)


def _add_export_parsers(commands: argparse._SubParsersAction) -> None:
    from storyloom_pipeline.export.command import add_parsers

    add_parsers(commands)


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="LoRA/QLoRA fine-tune from a recipe", description=_cmd_train.__doc__
    )
    train.add_argument("--recipe", required=True, metavar="YAML", help="pipeline/recipes/*.yaml")
    train.add_argument(
        "--run-dir", metavar="DIR", help="the run folder (default: runs/<recipe name>)"
    )
    train.add_argument(
        "--dataset", metavar="DIR", help="the training set folder (default: the recipe's)"
    )
    train.add_argument(
        "--merge",
        action="store_true",
        help="also fold the adapter into the base model: <run-dir>/merged",
    )
    train.set_defaults(func=_cmd_train)


def _add_eval_parser(commands: argparse._SubParsersAction) -> None:
    # the evaluation's options live beside it; importing them loads no ML library
    from storyloom_pipeline.evaluation.command import add_parser

    add_parser(commands)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
