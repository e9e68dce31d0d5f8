"""The one owner of the CRA prompt format and its response parser (standard library only).

Both halves of Storyloom import from here: the desktop app to build requests and read replies,
the pipeline to write training data. Nothing else may spell out the format.
"""

from storyloom.prompting.format import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    GUIDED_TASK,
    PROMPT_FORMAT_VERSION,
    REASONING_CLOSE,
    REASONING_OPEN,
    STOP_STRINGS,
    SYSTEM_PROMPT,
    TASK,
    continuation_messages,
    render_assistant_turn,
    render_chatml,
    render_training_example,
    render_user_prompt,
)
from storyloom.prompting.parser import (
    AnswerDelta,
    Event,
    Malformation,
    ParsedResponse,
    ReasoningDelta,
    ResponseParser,
    parse_response,
)

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "GUIDED_TASK",
    "PROMPT_FORMAT_VERSION",
    "REASONING_CLOSE",
    "REASONING_OPEN",
    "STOP_STRINGS",
    "SYSTEM_PROMPT",
    "TASK",
    "AnswerDelta",
    "Event",
    "Malformation",
    "ParsedResponse",
    "ReasoningDelta",
    "ResponseParser",
    "continuation_messages",
    "parse_response",
    "render_assistant_turn",
    "render_chatml",
    "render_training_example",
    "render_user_prompt",
]
