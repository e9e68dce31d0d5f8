"""What goes over the wire for each request style, and where the text is in what comes back.

- raw-cra: `/api/generate` with `raw: true` and our own ChatML, so the model sees exactly its
  training format whatever template its Modelfile (or GGUF) carries; ChatML stop strings.
- chat: `/api/chat` with system + user messages, so the model's own template and stop words
  apply. Our ChatML rendering of the same messages stands in for the prompt when estimating
  tokens: a chat template adds a few tokens per turn, which the calibration then learns.

The words themselves come from `storyloom.prompting`; this module only arranges them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storyloom.core.profiles import RequestStyle
from storyloom.prompting import (
    STOP_STRINGS,
    SYSTEM_PROMPT,
    continuation_messages,
    generic_messages,
    render_chatml,
    render_directions_prompt,
)


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    text: str  # the raw prompt (raw-cra), or the messages as ChatML (chat): what is estimated
    messages: tuple[dict[str, str], ...] = ()  # what /api/chat is sent (chat only)


def render(style: RequestStyle, context: str, guidance: str | None, prefill: str) -> RenderedPrompt:
    if style is RequestStyle.RAW_CRA:
        return RenderedPrompt(render_chatml(continuation_messages(context, guidance), prefill))
    if prefill:
        # A chat template decides how an assistant turn is opened; we cannot prefill into it.
        raise ValueError("a prefilled reply needs the raw-cra request style")
    messages = generic_messages(context, guidance)
    return RenderedPrompt(render_chatml(messages), tuple(messages))


def render_directions(style: RequestStyle, context: str, count: int) -> RenderedPrompt:
    """The "Suggest directions" question (teacher-style), as a system + user conversation."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_directions_prompt(context, count)},
    ]
    chat = style is RequestStyle.CHAT
    return RenderedPrompt(render_chatml(messages), tuple(messages) if chat else ())


def endpoint(style: RequestStyle) -> str:
    return "/api/generate" if style is RequestStyle.RAW_CRA else "/api/chat"


def request_body(
    style: RequestStyle,
    model: str,
    prompt: RenderedPrompt,
    options: dict[str, Any],
    keep_alive: str | int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if style is RequestStyle.RAW_CRA:
        body["prompt"] = prompt.text
        body["raw"] = True  # our ChatML: no Modelfile or GGUF template can alter the format
        options = {**options, "stop": list(STOP_STRINGS)}
    else:
        body["messages"] = [dict(m) for m in prompt.messages]
    body["stream"] = True
    # Refuse rather than silently drop the start of the story (Ollama >= 0.12.6; older servers
    # ignore it and the prompt_eval_count check catches the truncation instead). For chat it
    # also stops Ollama from dropping whole messages, the system prompt's neighbours first.
    body["truncate"] = False
    body["options"] = options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def chunk_text(chunk: dict[str, Any]) -> tuple[str, str]:
    """(thinking, content) of one streamed chunk of either endpoint.

    Thinking models on /api/chat send their thoughts in `message.thinking`; models without
    Ollama's thinking support write them inline as <think>…</think>, which the parser splits.
    """
    message = chunk.get("message")
    if isinstance(message, dict):
        return message.get("thinking") or "", message.get("content") or ""
    return chunk.get("thinking") or "", chunk.get("response") or ""
