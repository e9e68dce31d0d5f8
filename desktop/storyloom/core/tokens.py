"""Token estimates without a tokenizer, calibrated from what Ollama reports.

The app cannot tokenize with the model's own vocabulary (Ollama has no tokenize endpoint), yet
the prompt must fit `num_ctx - num_predict` or Ollama silently drops the start of the story.
So we estimate conservatively from characters and learn each model's real ratio from the
`prompt_eval_count` of every finished request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Qwen2.5's BPE averages about 4 characters per token on English prose; 3 over-counts tokens
# on purpose until a real count arrives.
DEFAULT_CHARS_PER_TOKEN = 3.0
# After calibration keep a safety margin: prompts differ (dialogue, names, other languages).
CALIBRATION_MARGIN = 0.9
MIN_CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN = 1.0, 6.0
# No tokenizer packs ordinary text denser than this. A prompt_eval_count below
# chars / PLAUSIBLE_MAX means the server did not read the whole prompt.
PLAUSIBLE_MAX_CHARS_PER_TOKEN = 8.0


@dataclass
class TokenEstimator:
    """Characters-per-token estimate for one model."""

    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN
    calibrated: bool = False

    def estimate(self, text: str) -> int:
        """Tokens `text` is likely to need, rounded up (an over-estimate is the safe side)."""
        return math.ceil(len(text) / self.chars_per_token)

    def chars_for(self, tokens: int) -> int:
        """How many characters fit in `tokens`."""
        return max(0, math.floor(tokens * self.chars_per_token))

    def calibrate(self, chars: int, reported_tokens: int) -> None:
        """Learn from a prompt of `chars` characters that Ollama counted as `reported_tokens`."""
        if reported_tokens <= 0 or chars <= 0 or looks_truncated(chars, reported_tokens):
            return
        observed = chars / reported_tokens * CALIBRATION_MARGIN
        self.chars_per_token = min(MAX_CHARS_PER_TOKEN, max(MIN_CHARS_PER_TOKEN, observed))
        self.calibrated = True


def looks_truncated(prompt_chars: int, reported_tokens: int) -> bool:
    """True when Ollama reports fewer prompt tokens than the prompt must have had."""
    return reported_tokens < prompt_chars / PLAUSIBLE_MAX_CHARS_PER_TOKEN


class TokenCalibration:
    """One estimator per model name, so a 7B and a 32B (or another family) don't mix."""

    def __init__(self) -> None:
        self._by_model: dict[str, TokenEstimator] = {}

    def for_model(self, model: str) -> TokenEstimator:
        return self._by_model.setdefault(model, TokenEstimator())
