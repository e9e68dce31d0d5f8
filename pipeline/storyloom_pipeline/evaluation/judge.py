"""Judged preference: a judge model compares the two models' continuations, blind, both ways.

For every chunk the judge sees the story so far and two continuations labelled only A and B,
once with the model under test as A and once with the baseline as A. Judges favour a position
(often the first); asking both orders cancels that bias:

- each order gives a preference for the model under test: +1 (its continuation won), 0 (tie),
  -1 (the baseline's won);
- the two add up per chunk: above 0 is a win, below 0 a loss, 0 a tie. A judge that prefers
  "A" both times, whatever is in it, thus scores a tie, never a win.

The score is (wins + ties / 2) / chunks, with a bootstrap interval (`stats`); 0.5 means no
preference. The judge is any OpenAI-compatible endpoint or Ollama model, asked through the
reasoning stage's providers and retry policy (`reasoning.runner.complete_with_retries`); an
answer without a verdict line is asked again, a few times, then left unjudged (a re-run
tries it again). Every verdict and the judge's words are kept in the journal.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from storyloom_pipeline.evaluation.journal import EvalJournal
from storyloom_pipeline.reasoning.providers import Completion, Provider, ProviderError
from storyloom_pipeline.reasoning.runner import RunSettings, complete_with_retries

JUDGE_FORMAT_VERSION = "judge-1"
JUDGE_KIND = "judge"
ORDERS = ("model_first", "baseline_first")
CONTEXT_CHARS = 6000  # the story's end the judge sees; about the last 1,500 tokens
_VERDICT = re.compile(r"verdict\s*[:：]?\s*[*_`\"'“]*\s*(A|B|tie)\b", re.IGNORECASE)

_PROMPT = """You are an experienced fiction editor. Below is the end of a story, then two \
continuations of it written by different authors. Decide which one is the better next part of \
this story.

Weigh, in this order:
1. Coherence: does it follow from the story so far (the characters and what they want, the \
world, the point of view, the tense and the voice)?
2. Pacing: does it move the story on by a natural step of about {sentences} sentences, \
neither stalling nor rushing?
3. Prose: is it well written, free of repetition, and free of commentary, headings or notes \
that are not part of the story?

Where a continuation is shown says nothing about its quality. If they are equally good or \
equally bad, say tie.

### Story so far
{context}

### Continuation A
{first}

### Continuation B
{second}

Justify your choice in at most three sentences, then end with exactly one line: \
"Verdict: A", "Verdict: B" or "Verdict: tie"."""


@dataclass(frozen=True)
class JudgeSettings:
    retry: RunSettings  # attempts and backoff per request, as for the teacher
    concurrency: int = 4
    max_rejections: int = 2  # answers without a verdict before a comparison is left unjudged
    context_chars: int = CONTEXT_CHARS


@dataclass(frozen=True)
class Pair:
    """One chunk's two continuations, ready to be judged."""

    chunk_id: str
    context: str
    model_answer: str
    baseline_answer: str
    target_sentences: int


def story_tail(context: str, limit: int = CONTEXT_CHARS) -> str:
    """The end of `context`, at most `limit` characters, starting at a paragraph (or at
    least a word) boundary, marked as cut."""
    context = context.strip()
    if len(context) <= limit:
        return context
    tail = context[-limit:]
    cut = tail.find("\n\n")
    if cut < 0 or cut > limit // 2:
        cut = tail.find(" ")
    return "[…] " + tail[cut:].strip()


def render_judge_prompt(pair: Pair, order: str, context_chars: int = CONTEXT_CHARS) -> str:
    first, second = (
        (pair.model_answer, pair.baseline_answer)
        if order == "model_first"
        else (pair.baseline_answer, pair.model_answer)
    )
    return _PROMPT.format(
        sentences=pair.target_sentences,
        context=story_tail(pair.context, context_chars),
        first=first.strip() or "(no continuation)",
        second=second.strip() or "(no continuation)",
    )


def parse_verdict(text: str) -> str | None:
    """The judge's last verdict line as "A", "B" or "tie"; None when there is none."""
    matches = _VERDICT.findall(text)
    if not matches:
        return None
    verdict = matches[-1]
    return "tie" if verdict.lower() == "tie" else verdict.upper()


def preference(verdict: str, order: str) -> int:
    """+1 when the verdict prefers the model under test, -1 the baseline, 0 a tie."""
    if verdict == "tie":
        return 0
    model_label = "A" if order == "model_first" else "B"
    return 1 if verdict == model_label else -1


def outcome(verdicts: dict[str, str]) -> str:
    """The model under test's "win", "tie" or "loss" from both orders' verdicts."""
    total = sum(preference(verdicts[order], order) for order in ORDERS)
    return "win" if total > 0 else "loss" if total < 0 else "tie"


def judge_key(pair: Pair, order: str, judge_model: str, context_chars: int) -> str:
    prompt = render_judge_prompt(pair, order, context_chars)
    payload = json.dumps([JUDGE_FORMAT_VERSION, judge_model, prompt])
    return f"judge|{pair.chunk_id}|{order}|{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


@dataclass
class JudgeReport:
    asked: int = 0
    judged: int = 0
    unjudged: list[str] = field(default_factory=list)  # "chunk_id order: why"


async def judge_pairs(
    provider: Provider,
    pairs: Sequence[Pair],
    journal: EvalJournal,
    settings: JudgeSettings,
    on_done: Callable[[], None] | None = None,
) -> JudgeReport:
    """Ask the judge about every (pair, order) not yet in the journal, `concurrency` at once."""
    report = JudgeReport()
    gate = asyncio.Semaphore(max(1, settings.concurrency))
    todo = [
        (pair, order, key)
        for pair in pairs
        for order in ORDERS
        if not journal.has(key := judge_key(pair, order, provider.model, settings.context_chars))
    ]

    async def one(pair: Pair, order: str, key: str) -> None:
        async with gate:
            report.asked += 1
            try:
                payload = await _ask(provider, pair, order, settings)
            except (ProviderError, _NoVerdict) as exc:
                report.unjudged.append(f"{pair.chunk_id} {order}: {exc}")
            else:
                journal.record(key, JUDGE_KIND, payload)
                report.judged += 1
            if on_done:
                on_done()

    await asyncio.gather(*(one(*item) for item in todo))
    return report


class _NoVerdict(Exception):
    pass


async def _ask(provider: Provider, pair: Pair, order: str, settings: JudgeSettings) -> dict:
    prompt = render_judge_prompt(pair, order, settings.context_chars)
    for _ in range(settings.max_rejections + 1):
        completion = await complete_with_retries(provider, prompt, settings.retry)
        verdict = parse_verdict(completion.text)
        if verdict is not None:
            return _payload(pair, order, verdict, completion)
    raise _NoVerdict(f"no verdict line in {settings.max_rejections + 1} answers")


def _payload(pair: Pair, order: str, verdict: str, completion: Completion) -> dict[str, Any]:
    return {
        "chunk_id": pair.chunk_id,
        "order": order,
        "verdict": verdict,
        "preference": preference(verdict, order),
        "judge_model": completion.model,
        "text": completion.text,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost": completion.cost,
    }
