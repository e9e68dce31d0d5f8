"""From the journal's replies and verdicts to the numbers of the report (`metrics.json`).

Definitions (the report repeats them):

- likelihood: mean NLL per token = total NLL / total tokens over all chunks (nats), perplexity
  = exp of that, bits per byte = total NLL / (ln 2 · UTF-8 bytes of the continuations), which
  compares models with different tokenizers. The model-vs-baseline difference is the mean of
  the per-chunk differences in NLL per token, with a bootstrap interval over chunks.
- format: the share of replies the app's parser reads as well formed, and every malformation's
  count; replies that hit the token limit are counted too.
- pacing: sentences in the answer against the true continuation's; "on pace" is within 25 %.
- echo: the share of answers that echo the context (`text_metrics.TextMetrics.echoes`) and the
  mean share of their 8-grams found in it.
- repetition: mean distinct-1/2/3, repeated 4-grams and repeated sentences per answer.
- judged preference: wins, ties and losses over chunks judged in both orders (`judge`).

The human continuation is measured the same way ("reference") to show what a good answer
looks like on the same chunks.

All of it is over the chunks both models answered: a chunk that either skipped (too long for
`--num-ctx`) is left out of every figure, so both sides are measured on the same chunks, and
listed under `skipped`.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from storyloom import prompting
from storyloom_pipeline.evaluation.judge import ORDERS, outcome, story_tail
from storyloom_pipeline.evaluation.stats import Interval, bootstrap_mean, wilson
from storyloom_pipeline.evaluation.text_metrics import TextMetrics, measure_text

if TYPE_CHECKING:
    from storyloom_pipeline.evaluation.run import Evaluation, Outcome

METRICS_FORMAT = "storyloom-eval-1"
ON_PACE = 0.25  # within 25 % of the true continuation's sentence count
MIN_CHUNKS = 10  # compared chunks below which the report decides nothing
REPETITION_FIELDS = (
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "repeated_4grams",
    "repeated_sentences",
)
CONDITIONS = ("direct", "after_reasoning")
SAMPLE_CONTEXT_CHARS = 800  # of each chunk's context, kept to show samples in the report


def chunk_rows(chunks: Sequence[Any], replies: dict[str, dict[str, dict]]) -> list[dict]:
    """One row per chunk: its reference measures and each role's reply measures."""
    from storyloom_pipeline.sentences import split_sentences

    rows = []
    for chunk in chunks:
        reference_sentences = split_sentences(chunk.continuation)
        row: dict[str, Any] = {
            "chunk_id": chunk.chunk_id,
            "book_id": chunk.book_id,
            "title": chunk.title,
            "target_sentences": len(reference_sentences),
            "continuation_bytes": len(chunk.continuation.encode()),
            "context_end": story_tail(chunk.context, SAMPLE_CONTEXT_CHARS),
            "continuation": chunk.continuation,
            "reference": asdict(
                measure_text(chunk.continuation, chunk.context, reference_sentences)
            ),
        }
        for role, by_chunk in replies.items():
            reply = by_chunk[chunk.chunk_id]
            answer = reply["answer"]
            measured = measure_text(answer, chunk.context, split_sentences(answer))
            row[role] = {
                "answer": answer,
                **asdict(measured),
                "echoes": measured.echoes,
                "well_formed": not reply["malformations"],
                "malformations": reply["malformations"],
                "finish_reason": reply["finish_reason"],
                "generated_tokens": reply["generated_tokens"],
                "generate_seconds": reply["generate_seconds"],
                **{
                    f"{name}_{condition}": reply.get(f"{name}_{condition}")
                    for condition in CONDITIONS
                    for name in ("nll", "tokens")
                },
            }
        rows.append(row)
    return rows


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _interval(value: Interval | None) -> dict[str, float | int] | None:
    return value.as_dict() if value is not None else None


def likelihood(rows: Sequence[dict], role: str, condition: str) -> dict[str, Any] | None:
    nll = [row[role][f"nll_{condition}"] for row in rows]
    tokens = [row[role][f"tokens_{condition}"] for row in rows]
    if any(value is None for value in nll) or not rows:
        return None  # an engine that cannot score (Ollama)
    total_nll, total_tokens = sum(nll), sum(tokens)
    total_bytes = sum(row["continuation_bytes"] for row in rows)
    mean = total_nll / total_tokens if total_tokens else math.nan
    return {
        "nll_per_token": mean,
        "perplexity": math.exp(mean),
        "bits_per_byte": total_nll / (math.log(2) * total_bytes) if total_bytes else math.nan,
        "tokens": total_tokens,
    }


def role_metrics(rows: Sequence[dict], role: str) -> dict[str, Any]:
    replies = [row[role] for row in rows]
    n = len(replies)
    malformations = Counter(m for reply in replies for m in reply["malformations"])
    sentences = [reply["sentences"] for reply in replies]
    ratios = [
        reply["sentences"] / row["target_sentences"]
        for row, reply in zip(rows, replies, strict=True)
        if row["target_sentences"]
    ]
    on_pace = sum(abs(ratio - 1) <= ON_PACE for ratio in ratios)
    seconds = sum(reply["generate_seconds"] for reply in replies)
    generated = sum(reply["generated_tokens"] for reply in replies)
    return {
        "chunks": n,
        "likelihood": {condition: likelihood(rows, role, condition) for condition in CONDITIONS},
        "format": {
            "well_formed": _interval(wilson(sum(r["well_formed"] for r in replies), n)),
            "malformations": {
                m.value: malformations.get(m.value, 0) for m in prompting.Malformation
            },
            "hit_token_limit": sum(r["finish_reason"] == "length" for r in replies),
        },
        "pacing": _pacing(sentences, ratios, on_pace),
        "echo": {
            "rate": _interval(wilson(sum(r["echoes"] for r in replies), n)),
            "opens_with_echo": sum(r["opens_with_echo"] for r in replies),
            "copied_share": _mean(r["copied_share"] for r in replies),
        },
        "repetition": {name: _mean(r[name] for r in replies) for name in REPETITION_FIELDS},
        "words": _mean(r["words"] for r in replies),
        "generation": {
            "tokens": generated,
            "seconds": seconds,
            "tokens_per_second": generated / seconds if seconds else None,
        },
    }


def _pacing(sentences: list[int], ratios: list[float], on_pace: int) -> dict[str, Any]:
    return {
        "sentences_mean": _mean(sentences),
        "sentences_median": statistics.median(sentences) if sentences else None,
        "sentences_sd": statistics.stdev(sentences) if len(sentences) > 1 else 0.0,
        "sentences_min": min(sentences, default=None),
        "sentences_max": max(sentences, default=None),
        "ratio_mean": _mean(ratios),
        "on_pace": _interval(wilson(on_pace, len(ratios))),
    }


def reference_metrics(rows: Sequence[dict]) -> dict[str, Any]:
    refs = [TextMetrics(**row["reference"]) for row in rows]
    return {
        "pacing": {"sentences_mean": _mean(r.sentences for r in refs)},
        "echo": {
            "rate": _interval(wilson(sum(r.echoes for r in refs), len(refs))),
            "copied_share": _mean(r.copied_share for r in refs),
        },
        "repetition": {name: _mean(getattr(r, name) for r in refs) for name in REPETITION_FIELDS},
        "words": _mean(r.words for r in refs),
    }


def nll_difference(rows: Sequence[dict], condition: str, *, seed: int) -> dict | None:
    """Per-chunk (model − baseline) NLL per token: negative means the model fits better."""
    deltas = []
    for row in rows:
        model, baseline = row["model"], row["baseline"]
        if model[f"nll_{condition}"] is None or baseline[f"nll_{condition}"] is None:
            return None
        if not model[f"tokens_{condition}"] or not baseline[f"tokens_{condition}"]:
            continue
        deltas.append(
            model[f"nll_{condition}"] / model[f"tokens_{condition}"]
            - baseline[f"nll_{condition}"] / baseline[f"tokens_{condition}"]
        )
    return _interval(bootstrap_mean(deltas, seed=seed))


def judge_metrics(
    rows: Sequence[dict], verdicts: dict[str, dict[str, dict]], *, seed: int
) -> dict[str, Any]:
    """Wins, ties and losses over the chunks judged in both orders (see `judge`); each such
    row also gets its outcome as row["judge"], for the per-book table."""
    outcomes: dict[str, str] = {}
    consistent = first_preferred = orders_judged = tokens = 0
    costs: list[float | None] = []
    for row in rows:
        by_order = verdicts.get(row["chunk_id"], {})
        for verdict in by_order.values():
            orders_judged += 1
            first_preferred += verdict["verdict"] == "A"
            tokens += verdict["prompt_tokens"] + verdict["completion_tokens"]
            costs.append(verdict["cost"])
        if all(order in by_order for order in ORDERS):
            result = outcome({order: by_order[order]["verdict"] for order in ORDERS})
            outcomes[row["chunk_id"]] = result
            prefs = [by_order[order]["preference"] for order in ORDERS]
            consistent += prefs[0] == prefs[1]
            row["judge"] = result
    counts = Counter(outcomes.values())
    scores = [{"win": 1.0, "tie": 0.5, "loss": 0.0}[o] for o in outcomes.values()]
    judged = len(outcomes)
    return {
        "win": counts["win"],
        "tie": counts["tie"],
        "loss": counts["loss"],
        "unjudged": len(rows) - judged,
        "score": _interval(bootstrap_mean(scores, seed=seed)),
        "position_consistency": consistent / judged if judged else None,
        "first_shown_preferred": first_preferred / orders_judged if orders_judged else None,
        "tokens": tokens,
        "cost": None if None in costs else sum(c for c in costs if c is not None),  # USD
    }


def per_book(rows: Sequence[dict], roles: Sequence[str]) -> list[dict[str, Any]]:
    books: dict[str, list[dict]] = {}
    for row in rows:
        books.setdefault(row["book_id"], []).append(row)
    table = []
    for book_id, book_rows in sorted(books.items()):
        entry: dict[str, Any] = {
            "book_id": book_id,
            "title": book_rows[0]["title"],
            "chunks": len(book_rows),
        }
        for role in roles:
            direct = likelihood(book_rows, role, "direct")
            entry[role] = {
                "nll_per_token_direct": direct["nll_per_token"] if direct else None,
                "well_formed": sum(r[role]["well_formed"] for r in book_rows),
                "sentences_mean": _mean(r[role]["sentences"] for r in book_rows),
            }
        judged = Counter(r["judge"] for r in book_rows if "judge" in r)
        entry["judge"] = {key: judged[key] for key in ("win", "tie", "loss")}
        table.append(entry)
    return table


def decision(comparison: dict[str, Any]) -> dict[str, Any]:
    """Keep the model under test only if it measurably beats the baseline: at least one
    primary measure (likelihood after `<answer>`, judged preference) better with its 95 %
    interval clear of no-difference, and none measurably worse. Below MIN_CHUNKS chunks a
    bootstrap interval is too narrow to trust, so there is no decision (`keep` None)."""
    intervals = {
        "likelihood": comparison.get("nll_direct_delta"),
        "judge": (comparison.get("judge") or {}).get("score"),
    }
    findings = {}
    for name, interval in intervals.items():
        if interval is None:
            continue
        # a negative NLL difference is better; a judge score above one half is better
        no_difference = 0.0 if name == "likelihood" else 0.5
        lower_is_better = name == "likelihood"
        above, below = interval["low"] > no_difference, interval["high"] < no_difference
        better, worse = (below, above) if lower_is_better else (above, below)
        findings[name] = "better" if better else "worse" if worse else "no measurable difference"
    if not findings:
        return {"findings": {}, "keep": None, "why": "neither likelihood nor a judge measured"}
    fewest = min(intervals[name]["n"] for name in findings)  # type: ignore[index]
    if fewest < MIN_CHUNKS:
        why = f"{fewest} chunks are too few to decide (at least {MIN_CHUNKS})"
        return {"findings": findings, "keep": None, "why": why}
    keep = "better" in findings.values() and "worse" not in findings.values()
    return {"findings": findings, "keep": keep, "why": None}


def skipped_chunks(chunks: Sequence[Any], replies: dict[str, dict[str, dict]]) -> list[dict]:
    """Each chunk a model skipped, with why (e.g. "longer than --num-ctx 8192")."""
    return [
        {
            "chunk_id": chunk.chunk_id,
            "role": role,
            "reason": reply["skipped"],
            "detail": reply.get("detail", ""),
        }
        for chunk in chunks
        for role, by_chunk in replies.items()
        if "skipped" in (reply := by_chunk[chunk.chunk_id])
    ]


def summarize(evaluation: Evaluation, result: Outcome) -> dict[str, Any]:
    """Everything `metrics.json` holds, from a finished evaluation and what its run found."""
    from storyloom_pipeline.evaluation.provenance import provenance

    chunks = evaluation.held_out.chunks
    skipped = skipped_chunks(chunks, result.replies)
    left_out = {entry["chunk_id"] for entry in skipped}
    rows = chunk_rows([c for c in chunks if c.chunk_id not in left_out], result.replies)
    seed = evaluation.held_out.seed
    comparison: dict[str, Any] = {
        "nll_direct_delta": nll_difference(rows, "direct", seed=seed),
        "nll_after_reasoning_delta": nll_difference(rows, "after_reasoning", seed=seed),
        "judge": judge_metrics(rows, result.verdicts, seed=seed) if evaluation.judge else None,
    }
    roles = list(evaluation.models)
    return {
        "format": METRICS_FORMAT,
        "prompt_format_version": prompting.PROMPT_FORMAT_VERSION,
        "provenance": provenance(),
        "selection": evaluation.held_out.describe(),
        "models": {
            role: {
                **spec.describe(),
                "label": spec.label,
                "fingerprint": result.fingerprints[role],
                "runtime": next(iter(result.replies[role].values()), {}).get("engine"),
            }
            for role, spec in evaluation.models.items()
        },
        "settings": {
            "generation": evaluation.generation.describe(),
            "judge": evaluation.judge.describe if evaluation.judge else None,
            "on_pace_tolerance": ON_PACE,
        },
        "metrics": {role: role_metrics(rows, role) for role in roles}
        | {"reference": reference_metrics(rows)},
        "comparison": comparison,
        "decision": decision(comparison),
        "skipped": skipped,
        "unjudged": result.unjudged,
        "per_book": per_book(rows, roles),
        "per_chunk": rows,
    }
