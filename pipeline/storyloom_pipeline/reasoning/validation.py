"""What the teacher may hand back: reject empty, refused, tagged or wildly sized outputs.

A rejected output is retried (a bounded number of times) and kept, raw, in the journal's
`rejected` table for inspection; see `runner`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyloom.prompting import ANSWER_CLOSE, ANSWER_OPEN, REASONING_CLOSE, REASONING_OPEN

_FORBIDDEN_TAGS = (
    REASONING_OPEN,
    REASONING_CLOSE,
    ANSWER_OPEN,
    ANSWER_CLOSE,
    "<think>",
    "</think>",
)
# Reasoning models (DeepSeek R1, Qwen3 on Ollama) may put their own thinking first.
_LEADING_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
_REFUSAL = re.compile(
    r"^\W*(?:i(?:'|’)m sorry|i am sorry|sorry,|i apologi[sz]e|i can(?:'|’)t|i cannot|i can not|"
    r"i won(?:'|’)t|i will not|i(?:'|’)m (?:not able|unable)|i am (?:not able|unable)|"
    r"as an ai\b|unfortunately,? i)",
    re.IGNORECASE,
)


class Rejected(ValueError):
    """The output is unusable; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rules:
    min_words: int = 20
    max_words: int = 3000
    max_guidance_words: int = 80


def clean_monologue(raw: str, rules: Rules = Rules()) -> str:
    """The usable monologue in `raw`, or `Rejected`."""
    text = _LEADING_THINK.sub("", raw).strip()
    _check_common(text)
    words = len(text.split())
    if words < rules.min_words:
        raise Rejected(f"too short: {words} words (minimum {rules.min_words})")
    if words > rules.max_words:
        raise Rejected(f"too long: {words} words (maximum {rules.max_words})")
    return text


def clean_guidance(raw: str, rules: Rules = Rules()) -> str:
    """The one-line guidance sentence in `raw`, or `Rejected`."""
    text = " ".join(_LEADING_THINK.sub("", raw).split())
    _check_common(text)
    words = len(text.split())
    if words > rules.max_guidance_words:
        raise Rejected(f"guidance too long: {words} words (maximum {rules.max_guidance_words})")
    return text


def _check_common(text: str) -> None:
    if not text:
        raise Rejected("empty")
    for tag in _FORBIDDEN_TAGS:
        if tag in text:
            raise Rejected(f"contains the tag {tag}")
    if _REFUSAL.match(text[:200]):
        raise Rejected("refusal")
