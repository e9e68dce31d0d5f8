"""Conservative token estimates, calibrated per model from Ollama's prompt_eval_count."""

from __future__ import annotations

from storyloom.core.tokens import (
    DEFAULT_CHARS_PER_TOKEN,
    TokenCalibration,
    TokenEstimator,
    looks_truncated,
)


def test_uncalibrated_estimate_over_counts_english() -> None:
    estimator = TokenEstimator()
    text = "The sea was calm that evening, the kind of calm the old fishermen distrusted."
    # Qwen2.5 needs about len/4 tokens here; the estimate must not be below that.
    assert estimator.estimate(text) >= len(text) / 4
    assert estimator.chars_per_token == DEFAULT_CHARS_PER_TOKEN


def test_calibration_learns_the_ratio_with_a_margin() -> None:
    estimator = TokenEstimator()
    estimator.calibrate(chars=4000, reported_tokens=1000)
    assert estimator.calibrated
    assert estimator.chars_per_token == 3.6  # 4 chars/token, less 10 %
    assert estimator.chars_for(100) == 360


def test_calibration_ignores_truncated_counts() -> None:
    estimator = TokenEstimator()
    estimator.calibrate(chars=40_000, reported_tokens=130)
    assert not estimator.calibrated
    assert looks_truncated(40_000, 130)
    assert not looks_truncated(4000, 1000)


def test_each_model_calibrates_separately() -> None:
    calibration = TokenCalibration()
    calibration.for_model("a").calibrate(3000, 1000)
    assert calibration.for_model("a").calibrated
    assert not calibration.for_model("b").calibrated
