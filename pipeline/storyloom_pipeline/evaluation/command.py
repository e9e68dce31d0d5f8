"""`storyloom-pipeline eval`: the command around `run` (arguments, progress, report).

Everything beyond argparse is imported when the command runs, so `--help` stays instant."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storyloom_pipeline.evaluation.run import Evaluation, Judge

PREFIX = "storyloom-pipeline eval"


def run_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from storyloom_pipeline.evaluation.engine import EngineError
    from storyloom_pipeline.evaluation.report import markdown_table, summary_table, write_report
    from storyloom_pipeline.evaluation.run import ROLES, run
    from storyloom_pipeline.evaluation.summary import summarize

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        evaluation = _evaluation(args)
    except ValueError as exc:  # a bad model reference, dataset, setting or judge key
        raise SystemExit(f"{PREFIX}: {exc}") from exc
    chunks = len(evaluation.held_out.chunks)
    total = chunks * (len(ROLES) + (2 if evaluation.judge else 0))
    with tqdm(total=total, desc="eval", unit="item", disable=None) as bar:
        try:
            outcome = run(evaluation, on_progress=bar.update)
        except EngineError as exc:
            raise SystemExit(f"{PREFIX}: {exc} (finished items are kept; run again)") from exc
        except KeyboardInterrupt:
            print(f"{PREFIX}: interrupted; finished items are kept, run again", file=sys.stderr)
            return 130
    metrics = summarize(evaluation, outcome)
    write_report(metrics, evaluation.out)
    print(markdown_table(summary_table(metrics)), file=sys.stderr)
    for problem in outcome.unjudged:
        print(f"unjudged: {problem}", file=sys.stderr)
    print(f"report: {evaluation.out / 'report.html'} and report.md", file=sys.stderr)
    return 0


def _evaluation(args: argparse.Namespace) -> Evaluation:
    from storyloom_pipeline.evaluation.engine import GenerationSettings
    from storyloom_pipeline.evaluation.heldout import select_held_out
    from storyloom_pipeline.evaluation.models import parse_model
    from storyloom_pipeline.evaluation.run import EngineOptions, Evaluation

    models = {
        "model": parse_model(args.model, args.model_adapter),
        "baseline": parse_model(args.baseline, args.baseline_adapter),
    }
    held_out = select_held_out(
        Path(args.chunks), split=args.split, sample=args.sample, seed=args.seed
    )
    generation = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        num_ctx=args.num_ctx,
    )
    engines = EngineOptions(
        device=args.device,
        dtype=args.dtype,
        load_in_4bit=args.load_in_4bit,
        threads=args.threads,
        ollama_host=args.ollama_host,
    )
    return Evaluation(
        out=Path(args.out),
        held_out=held_out,
        models=models,
        generation=generation,
        engines=engines,
        judge=_judge(args),
    )


def _judge(args: argparse.Namespace) -> Judge | None:
    if not args.judge_model:
        return None
    from storyloom_pipeline.evaluation.judge import JudgeSettings
    from storyloom_pipeline.evaluation.run import Judge
    from storyloom_pipeline.reasoning.providers import OPENROUTER_URL, MissingApiKey, open_provider
    from storyloom_pipeline.reasoning.runner import RunSettings

    ollama = args.judge_provider == "ollama"
    options: dict[str, Any] = {"temperature": 0.0}
    if ollama:
        options["num_ctx"] = args.num_ctx
    try:
        provider = open_provider(
            args.judge_provider,
            args.judge_model,
            base_url=args.judge_base_url or (args.ollama_host if ollama else None),
            api_key_env=args.judge_api_key_env,
            timeout=args.judge_timeout,
            concurrency=args.judge_concurrency,
            options=options,
        )
    except MissingApiKey as exc:
        raise ValueError(f"the judge: {exc}") from exc
    default = (args.ollama_host or "OLLAMA_HOST") if ollama else OPENROUTER_URL
    settings = JudgeSettings(
        retry=RunSettings(max_attempts=args.judge_max_attempts, backoff_initial=args.judge_backoff),
        concurrency=args.judge_concurrency,
        context_chars=args.judge_context_chars,
    )
    describe = {
        "provider": args.judge_provider,
        "model": args.judge_model,
        "endpoint": args.judge_base_url or default,
        "temperature": 0.0,
        "context_chars": settings.context_chars,
        "orders": "both (model first, baseline first)",
    }
    return Judge(provider=provider, settings=settings, describe=describe)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure a model against a baseline on held-out chunks",
        description=(
            "Compare a model (e.g. a fine-tune) with a baseline (e.g. its base) on held-out "
            "chunks: likelihood of the true continuation, format compliance, pacing, echo, "
            "repetition, and a judge model's blind pairwise preference. Writes metrics.json, "
            "report.md and report.html to --out; finished items are journaled there, so an "
            "interrupted run resumes. Models: ollama:NAME, a .gguf file (llama.cpp), a "
            "transformers folder, hf:ORG/NAME, or a peft adapter folder."
        ),
    )
    parser.add_argument("--chunks", required=True, metavar="PATH", help="the chunk dataset")
    parser.add_argument("--model", required=True, metavar="REF", help="the model under test")
    parser.add_argument(
        "--model-adapter", metavar="PATH", help="a peft folder or LoRA .gguf for --model"
    )
    parser.add_argument("--baseline", required=True, metavar="REF", help="what it must beat")
    parser.add_argument(
        "--baseline-adapter", metavar="PATH", help="a peft folder or LoRA .gguf for --baseline"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="report and journal folder")
    held_out = parser.add_argument_group("held-out chunks")
    held_out.add_argument("--split", default="test", help="the split to draw from (test)")
    held_out.add_argument("--sample", type=int, default=50, help="chunks to draw (50)")
    held_out.add_argument("--seed", type=int, default=0, help="for the draw and sampling (0)")
    generation = parser.add_argument_group("generation")
    generation.add_argument(
        "--max-new-tokens", type=int, default=1536, help="reply token limit (1536)"
    )
    generation.add_argument(
        "--temperature", type=float, default=0.0, help="0 is greedy, the default"
    )
    generation.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (1.0)")
    generation.add_argument(
        "--num-ctx", type=int, default=8192, help="context window, Ollama and llama.cpp (8192)"
    )
    engines = parser.add_argument_group("engines")
    engines.add_argument("--device", default="auto", help="transformers: auto, cpu, cuda, …")
    engines.add_argument(
        "--dtype", default="auto", help="transformers: auto, float32, bfloat16, float16"
    )
    engines.add_argument(
        "--load-in-4bit", action="store_true", help="transformers: an NF4 base (QLoRA)"
    )
    engines.add_argument(
        "--threads", type=int, help="CPU threads (transformers, llama.cpp; default: all cores)"
    )
    engines.add_argument("--ollama-host", metavar="URL", help="default: OLLAMA_HOST")
    judge = parser.add_argument_group("judge (pairwise preference; left out without a model)")
    judge.add_argument("--judge-model", metavar="NAME", help="e.g. deepseek/deepseek-chat")
    judge.add_argument(
        "--judge-provider",
        choices=("openai", "ollama"),
        default="openai",
        help="an OpenAI-compatible endpoint (default) or Ollama",
    )
    judge.add_argument("--judge-base-url", metavar="URL", help="default: OpenRouter")
    judge.add_argument(
        "--judge-api-key-env",
        default="OPENROUTER_API_KEY",
        metavar="NAME",
        help="environment variable with the judge's key (OPENROUTER_API_KEY)",
    )
    judge.add_argument("--judge-concurrency", type=int, default=4, help="requests at once (4)")
    judge.add_argument("--judge-timeout", type=float, default=120.0, help="seconds (120)")
    judge.add_argument("--judge-max-attempts", type=int, default=8, help="tries per request (8)")
    judge.add_argument("--judge-backoff", type=float, default=1.0, help="first backoff (1 s)")
    judge.add_argument(
        "--judge-context-chars",
        type=int,
        default=6000,
        help="the story's last characters the judge sees (6000)",
    )
    parser.set_defaults(func=run_eval)
