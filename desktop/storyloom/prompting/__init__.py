"""The one owner of the CRA prompt format and its response parser (standard library only).

Both halves of Storyloom import from here: the desktop app to build requests and read replies,
the pipeline to write training data. Nothing else may spell out the format.
"""

from storyloom.prompting.format import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    GENERIC_INSTRUCTION,
    GUIDED_TASK,
    PROMPT_FORMAT_VERSION,
    REASONING_CLOSE,
    REASONING_OPEN,
    STOP_STRINGS,
    SYSTEM_PROMPT,
    TASK,
    continuation_messages,
    generic_messages,
    render_assistant_turn,
    render_chatml,
    render_training_example,
    render_user_prompt,
)
from storyloom.prompting.parser import (
    CRA_TAGS,
    THINK_TAGS,
    AnswerDelta,
    Event,
    Malformation,
    ParsedResponse,
    ReasoningDelta,
    ResponseParser,
    TagScheme,
    parse_response,
)
from storyloom.prompting.teacher import (
    render_guidance_prompt,
    render_guided_monologue_prompt,
    render_monologue_prompt,
)

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "CRA_TAGS",
    "GENERIC_INSTRUCTION",
    "GUIDED_TASK",
    "PROMPT_FORMAT_VERSION",
    "REASONING_CLOSE",
    "REASONING_OPEN",
    "STOP_STRINGS",
    "SYSTEM_PROMPT",
    "TASK",
    "THINK_TAGS",
    "AnswerDelta",
    "Event",
    "Malformation",
    "ParsedResponse",
    "ReasoningDelta",
    "ResponseParser",
    "TagScheme",
    "continuation_messages",
    "generic_messages",
    "parse_response",
    "render_assistant_turn",
    "render_chatml",
    "render_guidance_prompt",
    "render_guided_monologue_prompt",
    "render_monologue_prompt",
    "render_training_example",
    "render_user_prompt",
]
