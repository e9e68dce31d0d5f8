"""The judge: verdict parsing, both-orders logic, and the whole exchange against a local
OpenAI-compatible server with scripted verdicts (the reasoning stage's test server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from eval_helpers import shown
from openai_fake import FakeOpenAI

from storyloom_pipeline.evaluation.journal import EvalJournal
from storyloom_pipeline.evaluation.judge import (
    JUDGE_KIND,
    ORDERS,
    JudgeSettings,
    Pair,
    judge_pairs,
    outcome,
    parse_verdict,
    preference,
    render_judge_prompt,
    story_tail,
)
from storyloom_pipeline.evaluation.summary import judge_metrics
from storyloom_pipeline.reasoning.providers import OpenAICompatibleProvider
from storyloom_pipeline.reasoning.runner import RunSettings

MODEL_MARK, BASELINE_MARK = "The owl spoke.", "The cat slept."


def pairs(n: int) -> list[Pair]:
    return [
        Pair(f"7#{i}", f"Story {i} so far. " * 20, MODEL_MARK, BASELINE_MARK, 20) for i in range(n)
    ]


def test_verdict_lines_are_read_leniently_and_the_last_one_counts() -> None:
    assert parse_verdict("A is vivid.\nVerdict: A") == "A"
    assert parse_verdict("**Verdict:** b") == "B"
    assert parse_verdict("Verdict: TIE.") == "tie"
    assert parse_verdict("Verdict: A... no, on reflection\nVerdict: B") == "B"
    assert parse_verdict("I prefer A.") is None
    assert parse_verdict("Verdict: Both") is None


def test_both_orders_cancel_a_position_bias() -> None:
    assert preference("A", "model_first") == 1 and preference("A", "baseline_first") == -1
    assert preference("tie", "baseline_first") == 0
    assert outcome({"model_first": "A", "baseline_first": "B"}) == "win"  # consistent
    assert outcome({"model_first": "A", "baseline_first": "tie"}) == "win"
    assert outcome({"model_first": "A", "baseline_first": "A"}) == "tie"  # always "first"
    assert outcome({"model_first": "B", "baseline_first": "A"}) == "loss"


def test_the_prompt_is_blind_and_swaps_the_answers() -> None:
    pair = Pair("7#0", "Once there was a king.", MODEL_MARK, BASELINE_MARK, 20)
    first = render_judge_prompt(pair, "model_first")
    second = render_judge_prompt(pair, "baseline_first")
    assert shown(first) == (MODEL_MARK, BASELINE_MARK)
    assert shown(second) == (BASELINE_MARK, MODEL_MARK)
    for prompt in (first, second):
        assert "baseline" not in prompt.lower()
        assert "about 20 sentences" in prompt and "Once there was a king." in prompt


def test_story_tail_cuts_at_a_paragraph() -> None:
    story = "First paragraph here.\n\n" + "x " * 10 + "\n\nLast paragraph, the end."
    assert story_tail(story, 1000) == story
    assert story_tail(story, 40) == "[…] Last paragraph, the end."


def run_judge(server: FakeOpenAI, journal: EvalJournal, n: int, **settings) -> object:
    provider = OpenAICompatibleProvider(model="judge/test", base_url=server.url, concurrency=4)
    judge = JudgeSettings(retry=RunSettings(max_attempts=4, backoff_initial=0.01), **settings)

    async def go():
        try:
            return await judge_pairs(provider, pairs(n), journal, judge)
        finally:
            await provider.aclose()

    return asyncio.run(go())


def verdicts_of(journal: EvalJournal) -> dict:
    found: dict = {}
    for item in journal.payloads(JUDGE_KIND):
        found.setdefault(item["chunk_id"], {})[item["order"]] = item
    return found


def test_a_judge_that_prefers_the_model_gives_wins_despite_faults(tmp_path: Path) -> None:
    def judge(prompt: str, attempt: int) -> str:
        a, _ = shown(prompt)
        return f"The owl moves the plot.\nVerdict: {'A' if a == MODEL_MARK else 'B'}"

    server = FakeOpenAI(reply=judge, fault_rate=0.3, faults=("429", "500", "drop"), seed=3)
    with server, EvalJournal(tmp_path / "j.sqlite") as journal:
        report = run_judge(server, journal, 5)
        assert (report.asked, report.judged, report.unjudged) == (10, 10, [])
        found = verdicts_of(journal)
    assert server.injected  # the faults happened and were retried
    rows = [{"chunk_id": f"7#{i}"} for i in range(5)]
    metrics = judge_metrics(rows, found, seed=0)
    assert (metrics["win"], metrics["tie"], metrics["loss"]) == (5, 0, 0)
    assert metrics["score"]["value"] == 1.0
    assert metrics["position_consistency"] == 1.0
    assert metrics["first_shown_preferred"] == 0.5
    assert metrics["tokens"] > 0 and metrics["cost"] > 0  # the server's usage, summed


def test_a_judge_that_always_picks_a_scores_ties(tmp_path: Path) -> None:
    server = FakeOpenAI(reply=lambda prompt, attempt: "Verdict: A")
    with server, EvalJournal(tmp_path / "j.sqlite") as journal:
        run_judge(server, journal, 4)
        found = verdicts_of(journal)
    metrics = judge_metrics([{"chunk_id": f"7#{i}"} for i in range(4)], found, seed=0)
    assert (metrics["win"], metrics["tie"], metrics["loss"]) == (0, 4, 0)
    assert metrics["score"]["value"] == 0.5
    assert metrics["position_consistency"] == 0.0  # +1 then -1 every time
    assert metrics["first_shown_preferred"] == 1.0


def test_answers_without_a_verdict_are_asked_again_then_left_for_a_rerun(tmp_path: Path) -> None:
    def judge(prompt: str, attempt: int) -> str:
        a, _ = shown(prompt)
        if "Story 0 " in prompt:
            return "Both are lovely."  # never a verdict
        return "Hmm." if attempt == 0 else f"Verdict: {'B' if a == MODEL_MARK else 'A'}"

    with FakeOpenAI(reply=judge) as server, EvalJournal(tmp_path / "j.sqlite") as journal:
        report = run_judge(server, journal, 3, max_rejections=2)
        assert report.judged == 4 and len(report.unjudged) == 2
        assert all("no verdict line in 3 answers" in u for u in report.unjudged)
        assert journal.count() == 4
        again = run_judge(server, journal, 3, max_rejections=2)
        assert again.asked == 2  # only what is missing
        found = verdicts_of(journal)
    metrics = judge_metrics([{"chunk_id": f"7#{i}"} for i in range(3)], found, seed=0)
    assert (metrics["loss"], metrics["unjudged"]) == (2, 1)


@pytest.mark.parametrize("order", ORDERS)
def test_empty_answers_are_shown_as_such(order: str) -> None:
    prompt = render_judge_prompt(Pair("1#0", "Story.", "", "  ", 20), order)
    assert shown(prompt) == ("(no continuation)", "(no continuation)")
