"""Reading "Suggest directions" replies: a few one-sentence ways the story could go on.

The model is asked with `prompting.render_directions_prompt` for one sentence per line. Models
answer in their own ways: numbered or bulleted lists, a line of introduction, labels such as
"Direction 1:", quotes, markdown bold, a cra model's <reasoning>/<answer> tags, or all the
sentences in one paragraph. What the writer gets is the directions themselves, one sentence each,
ready to use as guidance.
"""

from __future__ import annotations

import re

from storyloom.core.sentences import split_sentences
from storyloom.prompting import CRA_TAGS, TagScheme, parse_response

DEFAULT_COUNT = 3
_MARKER = re.compile(r"^(?:[-*•–—>]|\(?\d{1,2}[.):]|\(?[a-eA-E][.)])\s*")
_LABEL = re.compile(r"^(?:direction|option|idea|possibility)\s*\d*\s*[:.)-]\s*", re.IGNORECASE)
_WRAPPERS = "\"'“”‘’*_ "


def directions_from_reply(
    reply: str, scheme: TagScheme = CRA_TAGS, count: int = DEFAULT_COUNT
) -> list[str]:
    """Up to `count` distinct one-sentence directions found in a model's `reply`."""
    parsed = parse_response(reply, scheme)
    lines = [_clean(line) for line in parsed.answer.splitlines()]
    lines = [line for line in lines if line and not line.endswith(":")]
    if len(lines) >= count:  # one per line, as asked: keep each line's first sentence
        candidates = [split_sentences(line)[0] for line in lines]
    else:  # sentences run together in a paragraph or two
        candidates = [sentence for line in lines for sentence in split_sentences(line)]
    directions: list[str] = []
    for candidate in candidates:
        direction = _clean(candidate)
        if direction and direction.casefold() not in {d.casefold() for d in directions}:
            directions.append(direction)
    return directions[:count]


def _clean(line: str) -> str:
    line = " ".join(line.split())
    line = _LABEL.sub("", _MARKER.sub("", line.strip(_WRAPPERS)))
    return line.strip(_WRAPPERS)
