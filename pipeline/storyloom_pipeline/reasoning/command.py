"""`storyloom-pipeline reason`: the command around `Runner` (provider set-up, progress, report)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from storyloom_pipeline.reasoning.chunk_source import ChunkSourceError, load_chunks
from storyloom_pipeline.reasoning.journal import Journal
from storyloom_pipeline.reasoning.providers import MissingApiKey, Prices, Provider, open_provider
from storyloom_pipeline.reasoning.runner import Runner, RunReport, RunSettings


def make_provider(args: argparse.Namespace) -> Provider:
    options: dict[str, Any] = {}
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if args.max_tokens and args.provider != "ollama":
        options["max_tokens"] = args.max_tokens
    prices = Prices(args.price_prompt, args.price_completion) if args.price_prompt else None
    routing = json.loads(args.provider_routing) if args.provider_routing else {}
    if args.provider_order:
        routing["order"] = [p.strip() for p in args.provider_order.split(",") if p.strip()]
    try:
        return open_provider(
            args.provider,
            args.model,
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            timeout=args.timeout,
            concurrency=args.concurrency,
            options=options,
            prices=prices,
            routing=routing or None,
        )
    except MissingApiKey as exc:
        raise SystemExit(f"storyloom-pipeline reason: {exc}") from exc


def run_reason(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        chunks = load_chunks(Path(args.chunks))
    except ChunkSourceError as exc:
        raise SystemExit(f"storyloom-pipeline reason: {exc}") from exc
    provider = make_provider(args)
    settings = RunSettings(
        mode=args.mode,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        backoff_initial=args.backoff,
        max_rejections=args.max_rejections,
        limit=args.limit,
        max_cost=args.max_cost,
    )
    with Journal(Path(args.journal)) as journal:
        try:
            report = asyncio.run(_run(provider, journal, settings, chunks))
        except KeyboardInterrupt:  # what committed is kept; the requests in flight are lost
            report = RunReport(interrupted=True)
        spend = journal.spend()
    print(_summary(report), file=sys.stderr)
    cost = f"${spend.cost:.4f}" + ("" if spend.cost_known else " (some calls without a cost)")
    print(
        f"journal {args.journal}: {spend.prompt_tokens}+{spend.completion_tokens} tokens, "
        f"{cost} in all",
        file=sys.stderr,
    )
    if report.interrupted:
        return 130
    return 1 if report.failed and not report.completed else 0


async def _run(provider: Provider, journal: Journal, settings: RunSettings, chunks) -> RunReport:  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    runner = Runner(provider, journal, settings)
    todo = runner.pending(chunks)
    bar = tqdm(total=len(todo), desc="reason", unit="chunk", disable=None, smoothing=0.1)

    def progress(report: RunReport) -> None:
        bar.set_postfix_str(f"${report.cost:.4f}, {report.retries} retries", refresh=False)
        # update() redraws at most every `mininterval` (0.1 s); refresh() per chunk would
        # redraw the bar for every result.
        bar.update(report.completed + report.failed - bar.n)

    runner._on_progress = progress
    try:
        return await runner.run(todo)
    except (KeyboardInterrupt, asyncio.CancelledError):
        runner.report.interrupted = True
        return runner.report
    finally:
        bar.close()
        await provider.aclose()


def _summary(report: RunReport) -> str:
    parts = [
        f"{report.completed} chunks reasoned",
        f"{report.already_done} already done",
        f"{report.failed} failed",
        f"{report.rejected_outputs} outputs rejected",
        f"{report.retries} retries",
        f"${report.cost:.4f} this run",
    ]
    if report.stopped_by_cost:
        parts.append("stopped at --max-cost")
    if report.interrupted:
        parts.append("interrupted")
    return ", ".join(parts)
