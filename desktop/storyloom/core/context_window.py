"""Which part of the story goes to the model: the last stretch that fits the token budget.

The cut is made at a paragraph boundary when one is near, else at a sentence boundary, else
between words, so the model never starts reading mid-word or mid-sentence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from storyloom.core.profiles import RequestStyle
from storyloom.core.request_format import render
from storyloom.core.tokens import TokenEstimator

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
    # Only whitespace was left out (a story may well begin with a blank line).
    is_whole_story: bool = False


def prompt_overhead(
    estimator: TokenEstimator,
    guidance: str | None,
    prefill: str = "",
    style: RequestStyle = RequestStyle.RAW_CRA,
) -> int:
    """Tokens the prompt needs besides the story itself (template, system, task, guidance)."""
    return estimator.estimate(render(style, "", guidance, prefill).text)


def context_token_budget(num_ctx: int, num_predict: int, overhead_tokens: int) -> int:
    """Tokens left for the story once the reply and the prompt's fixed text are reserved."""
    return num_ctx - max(num_predict, 0) - overhead_tokens


class ContextLevel(enum.Enum):
    OK = "ok"
    WARNING = "warning"  # little room left: the next stretch of writing will start a cut
    CUT = "cut"  # the start of the story no longer fits and is left out


# Warn while a tenth of the window is still free, before anything is cut.
WARNING_FREE_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class ContextUsage:
    """How the next request fills num_ctx: the prompt, the room reserved for the reply, free."""

    prompt_tokens: int  # estimated (calibrated)
    reserved_tokens: int  # num_predict
    num_ctx: int
    whole_story: bool

    @property
    def free_tokens(self) -> int:
        return max(0, self.num_ctx - self.prompt_tokens - self.reserved_tokens)

    @property
    def level(self) -> ContextLevel:
        if not self.whole_story:
            return ContextLevel.CUT
        if self.free_tokens < self.num_ctx * WARNING_FREE_SHARE:
            return ContextLevel.WARNING
        return ContextLevel.OK


def cut_context(story: str, max_chars: int) -> ContextCut:
    """The last stretch of `story` of at most `max_chars` characters, cut at a boundary."""
    story = story.rstrip()
    if max_chars <= 0:
        return ContextCut("", len(story), len(story), is_whole_story=not story)
    if len(story) <= max_chars:
        start = len(story) - len(story.lstrip())
        return ContextCut(story[start:], start, len(story), is_whole_story=True)
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
