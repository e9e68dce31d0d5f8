"""Which part of the story goes to the model: the last stretch that fits the token budget.

The cut is made at a paragraph boundary when one is near, else at a sentence boundary, else
between words, so the model never starts reading mid-word or mid-sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyloom.core.tokens import TokenEstimator
from storyloom.prompting import continuation_messages, render_chatml

# A sentence ends with . ! ? or … possibly followed by closing quotes/brackets, then space.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n\s*")
_WORD_BREAK = re.compile(r"\s+")
# A boundary is only worth it if it keeps most of the window; otherwise try a finer one.
_MAX_BOUNDARY_LOSS = 0.5


@dataclass(frozen=True, slots=True)
class ContextCut:
    """The story context chosen for one request."""

    text: str
    start: int  # offset of `text` in the story before the cursor
    story_length: int

    @property
    def is_whole_story(self) -> bool:
        return self.start == 0


def prompt_overhead(estimator: TokenEstimator, guidance: str | None, prefill: str = "") -> int:
    """Tokens the prompt needs besides the story itself (template, system, task, guidance)."""
    return estimator.estimate(render_chatml(continuation_messages("", guidance), prefill))


def context_token_budget(num_ctx: int, num_predict: int, overhead_tokens: int) -> int:
    """Tokens left for the story once the reply and the prompt's fixed text are reserved."""
    return num_ctx - max(num_predict, 0) - overhead_tokens


def cut_context(story: str, max_chars: int) -> ContextCut:
    """The last stretch of `story` of at most `max_chars` characters, cut at a boundary."""
    story = story.rstrip()
    if max_chars <= 0:
        return ContextCut("", len(story), len(story))
    if len(story) <= max_chars:
        start = len(story) - len(story.lstrip())
        return ContextCut(story[start:], start, len(story))
    window_start = len(story) - max_chars
    limit = window_start + int(max_chars * _MAX_BOUNDARY_LOSS)
    start = window_start
    for boundary in (_PARAGRAPH_BREAK, _SENTENCE_END, _WORD_BREAK):
        # A boundary found from one character before the window still starts inside it.
        match = boundary.search(story, max(window_start - 1, 0), limit)
        if match:
            start = match.end()
            break
    return ContextCut(story[start:], start, len(story))
