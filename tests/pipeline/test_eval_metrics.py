"""The evaluation's text metrics and their aggregation, on crafted replies with known answers."""

from __future__ import annotations

import math

import pytest

from storyloom import prompting
from storyloom_pipeline.evaluation.judge import preference
from storyloom_pipeline.evaluation.stats import Z95, bootstrap_mean, wilson
from storyloom_pipeline.evaluation.summary import (
    chunk_rows,
    decision,
    judge_metrics,
    likelihood,
    nll_difference,
    role_metrics,
)
from storyloom_pipeline.evaluation.text_metrics import (
    copied_share,
    distinct_n,
    measure_text,
    opens_with_echo,
    repeated_ngram_share,
    repeated_sentence_share,
    words,
)
from storyloom_pipeline.reasoning.chunk_source import Chunk

CONTEXT = (
    "The lamp had burned low by the time the carriage reached the inn. Martha climbed down "
    "first and held the door for her brother, who said nothing at all.\n\n"
    "Inside, the landlord was asleep by the fire."
)
CONTINUATION = (
    "He woke with a start. He asked if they wanted rooms. Martha nodded. The fire hissed. "
    "They went up."
)


def test_words_keep_contractions_and_drop_punctuation() -> None:
    assert words("“Don’t go,” she said — it's late.") == [
        "don’t",
        "go",
        "she",
        "said",
        "it's",
        "late",
    ]


def test_distinct_n_and_repeats_count_what_they_say() -> None:
    tokens = ["the", "cat", "sat", "the", "cat", "sat"]
    assert distinct_n(tokens, 1) == pytest.approx(3 / 6)
    assert distinct_n(tokens, 2) == pytest.approx(3 / 5)  # the cat, cat sat, sat the
    assert distinct_n(tokens, 7) is None
    # 4-grams: (the cat sat the) (cat sat the cat) (sat the cat sat): none repeats
    assert repeated_ngram_share(tokens) == 0.0
    assert repeated_ngram_share(["a", "b", "c", "d", "a", "b", "c", "d"]) == pytest.approx(1 / 5)
    assert repeated_sentence_share(["I ran.", "I  ran.", "He ran.", "i ran."]) == 0.5
    assert repeated_sentence_share([]) is None


def test_echo_is_a_copied_opening_or_a_mostly_copied_answer() -> None:
    context = words(CONTEXT)
    echo = "The lamp had burned low by the time the carriage came. Then he slept."
    assert opens_with_echo(context, words(echo))
    assert not opens_with_echo(context, words("The lamp had burned out long before dawn came."))
    assert copied_share(context, words("Too short to tell.")) is None
    copy = "Martha climbed down first and held the door for her brother, who said nothing at all."
    assert copied_share(context, words(copy)) == 1.0
    assert measure_text(copy, CONTEXT, [copy]).echoes  # not an opening echo, but all copied
    fresh = measure_text(CONTINUATION, CONTEXT, ["a", "b", "c", "d", "e"])
    assert not fresh.echoes
    assert fresh.copied_share == 0.0


def reply(raw: str, finish: str = "stop", nll: float | None = None, tokens: int = 0) -> dict:
    parsed = prompting.parse_response(raw)
    scores = {} if nll is None else {"nll_direct": nll, "tokens_direct": tokens}
    return {
        "text": raw,
        "answer": parsed.answer,
        "reasoning": parsed.reasoning,
        "malformations": [str(m) for m in parsed.malformations],
        "finish_reason": finish,
        "generated_tokens": 10,
        "generate_seconds": 2.0,
        **scores,
    }


def chunk(index: int, book: str = "11") -> Chunk:
    return Chunk(book, index, CONTEXT, CONTINUATION, "test", title=f"Book {book}")


def test_format_pacing_and_echo_on_crafted_replies() -> None:
    chunks = [chunk(0), chunk(1), chunk(2), chunk(3, "35")]
    replies = {
        "model": {
            "11#0": reply(
                "<reasoning>He is tired.</reasoning><answer>He woke. He ate. He left. "
                "She stayed. It rained.</answer>"
            ),
            "11#1": reply("<reasoning>Plan.</reasoning><answer>One thing. Another.", "length"),
            "11#2": reply(
                "Just prose without tags. The lamp had burned low by the time the "
                "carriage reached the inn."
            ),
            "35#3": reply(
                "<reasoning>a<reasoning>b</reasoning><answer>Up. Down. Left. Right.</answer>x"
            ),
        }
    }
    rows = chunk_rows(chunks, replies)
    assert [row["target_sentences"] for row in rows] == [5, 5, 5, 5]
    metrics = role_metrics(rows, "model")
    assert metrics["format"]["well_formed"]["value"] == 0.25  # only the first
    assert metrics["format"]["malformations"] == {
        "no_tags": 1,
        "text_before_tags": 0,
        "no_reasoning": 0,
        "repeated_reasoning_open": 1,
        "missing_reasoning_close": 0,
        "stray_tag": 0,
        "no_answer": 0,
        "missing_answer_close": 1,
        "text_after_answer": 1,
    }
    assert metrics["format"]["hit_token_limit"] == 1
    assert [row["model"]["sentences"] for row in rows] == [5, 2, 2, 4]
    pacing = metrics["pacing"]
    assert pacing["sentences_mean"] == pytest.approx(13 / 4)
    assert pacing["ratio_mean"] == pytest.approx((1 + 0.4 + 0.4 + 0.8) / 4)
    assert pacing["on_pace"]["value"] == 0.5  # 5/5 and 4/5 are within 25 %
    assert metrics["echo"]["opens_with_echo"] == 0  # the untagged reply echoes, but later
    # 17 words, 10 8-grams; the 6 within "The lamp … inn." are the context's
    assert rows[2]["model"]["copied_share"] == pytest.approx(6 / 10)
    assert metrics["echo"]["rate"]["value"] == 0.25
    assert metrics["likelihood"]["direct"] is None  # nothing scored (an Ollama model)


def test_likelihood_pools_tokens_over_chunks() -> None:
    rows = [
        {"continuation_bytes": 100, "m": {"nll_direct": 10.0, "tokens_direct": 5}},
        {"continuation_bytes": 300, "m": {"nll_direct": 30.0, "tokens_direct": 20}},
    ]
    result = likelihood(rows, "m", "direct")
    assert result["nll_per_token"] == pytest.approx(40 / 25)
    assert result["perplexity"] == pytest.approx(math.exp(1.6))
    assert result["bits_per_byte"] == pytest.approx(40 / (math.log(2) * 400))


def test_wilson_and_bootstrap_intervals() -> None:
    assert wilson(0, 0) is None
    none, all_ = wilson(0, 10), wilson(10, 10)
    assert none.low == 0.0 and 0.25 < none.high < 0.35  # 0/10 is not "certainly 0"
    assert all_.high == pytest.approx(1.0) and 0.65 < all_.low < 0.75
    half = wilson(5, 10)
    assert half.low == pytest.approx(1 - half.high)
    interval = bootstrap_mean([1.0, 2.0, 3.0, 4.0], seed=1)
    assert interval.value == 2.5 and 1.0 <= interval.low < 2.5 < interval.high <= 4.0
    assert bootstrap_mean([1.0, 2.0, 3.0, 4.0], seed=1) == interval  # reproducible
    assert bootstrap_mean([], seed=1) is None


def binomial_quantile(q: float, n: int) -> int:
    """The q-quantile of Binomial(n, 1/2): the least k with P(X <= k) >= q."""
    cdf = 0.0
    for k in range(n + 1):
        cdf += math.comb(n, k) / 2**n
        if cdf >= q:
            return k
    return n


# 40 chunks, half of one value and half of another: a bootstrap resample's mean is the first
# value plus the gap times X/40, X ~ Binomial(40, 1/2), whose 2.5 % and 97.5 % quantiles are
# 14 and 26 with wide margins (P(X <= 13) = 1.9 %, P(X <= 14) = 4.0 %), so the percentile
# interval of 5,000 resamples lands on them exactly, whatever the seed.
HALF = 20
LOW_K, HIGH_K = binomial_quantile(0.025, 2 * HALF), binomial_quantile(0.975, 2 * HALF)


def test_the_intervals_land_on_their_computed_bounds() -> None:
    assert (LOW_K, HIGH_K) == (14, 26)
    for seed in (0, 1, 7):
        interval = bootstrap_mean([0.0] * HALF + [1.0] * HALF, seed=seed)
        assert (interval.low, interval.value, interval.high) == pytest.approx(
            (LOW_K / 40, 0.5, HIGH_K / 40)
        )
    # Wilson's closed form at 0/n and n/n: z^2 / (n + z^2)
    assert wilson(0, 10).high == pytest.approx(Z95**2 / (10 + Z95**2))
    assert wilson(10, 10).low == pytest.approx(10 / (10 + Z95**2))


def test_the_nll_difference_and_judge_score_intervals_are_over_chunks() -> None:
    """Per-chunk NLL/token differences of -0.1 (20 chunks) and -0.3 (20 chunks), with other
    token counts on each side: the mean is -0.2, the interval -0.1 - 0.2 * [26, 14] / 40."""
    rows = []
    for delta in [-0.1] * HALF + [-0.3] * HALF:
        model = {"nll_direct": (2.0 + delta) * 50, "tokens_direct": 50}
        baseline = {"nll_direct": 2.0 * 40, "tokens_direct": 40}
        rows.append({"model": model, "baseline": baseline})
    difference = nll_difference(rows, "direct", seed=0)
    assert (difference["low"], difference["value"], difference["high"]) == pytest.approx(
        (-0.1 - 0.2 * HIGH_K / 40, -0.2, -0.1 - 0.2 * LOW_K / 40)
    )
    assert difference["n"] == 40
    # 20 wins and 20 losses, each judged in both orders: a score of 0.5 in [0.35, 0.65]
    judged, verdicts = [], {}
    for i in range(2 * HALF):
        judged.append({"chunk_id": str(i)})
        win = i < HALF
        verdicts[str(i)] = {
            "model_first": verdict("A" if win else "B", "model_first"),
            "baseline_first": verdict("B" if win else "A", "baseline_first"),
        }
    judge = judge_metrics(judged, verdicts, seed=0)
    assert (judge["win"], judge["loss"]) == (HALF, HALF)
    score = judge["score"]
    assert (score["low"], score["value"], score["high"]) == pytest.approx(
        (LOW_K / 40, 0.5, HIGH_K / 40)
    )


def verdict(letter: str, order: str) -> dict:
    return {
        "verdict": letter,
        "preference": preference(letter, order),
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cost": None,
    }


def interval(value: float, low: float, high: float, n: int = 20) -> dict:
    return {"value": value, "low": low, "high": high, "n": n}


def test_keep_needs_a_measurable_gain_no_measurable_loss_and_enough_chunks() -> None:
    better_nll = interval(-0.1, -0.2, -0.05)
    judge = {"score": interval(0.5, 0.4, 0.6)}
    assert decision({"nll_direct_delta": better_nll, "judge": judge})["keep"] is True
    worse_judge = {"score": interval(0.3, 0.2, 0.45)}
    result = decision({"nll_direct_delta": better_nll, "judge": worse_judge})
    assert result["findings"] == {"likelihood": "better", "judge": "worse"}
    assert result["keep"] is False
    unclear = decision({"nll_direct_delta": interval(-0.1, -0.2, 0.01), "judge": None})
    assert unclear == {
        "findings": {"likelihood": "no measurable difference"},
        "keep": False,
        "why": None,
    }
    few = decision({"nll_direct_delta": interval(-0.1, -0.2, -0.05, n=3), "judge": judge})
    assert few["keep"] is None and few["why"] == "3 chunks are too few to decide (at least 10)"
    assert decision({"nll_direct_delta": None, "judge": None})["keep"] is None
