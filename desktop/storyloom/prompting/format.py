"""The CRA prompt format: the one place where the words the model was trained on live.

The app renders requests with these functions and the pipeline renders training examples with
them, so a continuation asked of a model is byte-identical to what that model saw in training.
Golden tests in tests/unit/prompting pin every string; change them only together with
PROMPT_FORMAT_VERSION.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PROMPT_FORMAT_VERSION = "cra-1"
"""Stamped into datasets, GGUF metadata and Modelfiles so a mismatch can be detected."""

# The seed (creative-reasoning-assistant v1) wrote "writer’s" with a typographic apostrophe
# (U+2019). The model learnt that exact byte sequence, so it is spelled the same everywhere.
WRITER_ASSISTANT = "You are a writer’s assistant."
SYSTEM_PROMPT = WRITER_ASSISTANT
"""The Ollama SYSTEM / ChatML system turn."""

TASK = (
    "Understand how the story flows, what motivations the characters have and how they will "
    "interact with each other and the world as a step by step thought process before "
    "continuing the story."
)
GUIDED_TASK = TASK + " Keep the guidance in mind when writing the story."

REASONING_OPEN, REASONING_CLOSE = "<reasoning>", "</reasoning>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Qwen2.5's ChatML markers. <|endoftext|> ends a document; either may stop generation.
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
STOP_STRINGS: tuple[str, ...] = (IM_END, END_OF_TEXT, IM_START)
"""Passed as Ollama `options.stop` in raw mode and as Modelfile `PARAMETER stop` lines."""

ROLES = ("system", "user", "assistant")


def render_user_prompt(context: str, guidance: str | None = None) -> str:
    """Render the user turn for `context` (the story so far), optionally steered by `guidance`.

    The layout is the seed's: "### Part: text" blocks separated by a blank line, the context on
    its own lines after "### Context:", and a final newline. Surrounding whitespace of the context
    is dropped, so the app (which cuts at the cursor) and the pipeline (which joins sentences)
    render the same story identically. Guidance is one sentence; it is flattened to one line
    because the model only ever saw it on one line.
    """
    parts = [f"### System: {WRITER_ASSISTANT}"]
    if guidance is not None and guidance.strip():
        parts.append(f"### Task: {GUIDED_TASK}")
        parts.append(f"### Guidance: {' '.join(guidance.split())}")
    else:
        parts.append(f"### Task: {TASK}")
    parts.append(f"### Context:\n{context.strip()}\n")
    return "\n\n".join(parts)


def render_assistant_turn(reasoning: str, answer: str) -> str:
    """The assistant's reply as the model is trained to write it."""
    return f"{REASONING_OPEN}{reasoning}{REASONING_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def render_plan_prefill(plan: str) -> str:
    """The start of an assistant turn whose reasoning is given: the model writes only the prose.

    "Rewrite from plan" sends it as `render_chatml(..., prefill=render_plan_prefill(plan))`. It
    is `render_assistant_turn(plan, answer)` up to the answer, so the model is exactly where it
    was in training after writing that reasoning itself.
    """
    return f"{REASONING_OPEN}{plan.strip()}{REASONING_CLOSE}{ANSWER_OPEN}"


def render_chatml(messages: Iterable[Mapping[str, str]], prefill: str = "") -> str:
    """Render chat `messages` as Qwen2.5 ChatML, ending in an open assistant turn.

    This is the text sent to Ollama with `raw: true`, so no Modelfile or GGUF template can change
    it. A conversation without a system message gets SYSTEM_PROMPT, the same one the training
    rendering uses. `prefill` starts the assistant's reply, e.g. an edited
    "<reasoning>…</reasoning><answer>" so that the model only writes the prose.
    """
    turns = [dict(m) for m in messages]
    for turn in turns:
        if turn.get("role") not in ROLES:
            raise ValueError(f"unknown chat role {turn.get('role')!r}; expected one of {ROLES}")
        if not isinstance(turn.get("content"), str):
            raise ValueError(f"message content must be a string, got {turn.get('content')!r}")
    if not turns or turns[0]["role"] != "system":
        turns.insert(0, {"role": "system", "content": SYSTEM_PROMPT})
    text = "".join(f"{IM_START}{t['role']}\n{t['content']}{IM_END}\n" for t in turns)
    return f"{text}{IM_START}assistant\n{prefill}"


def continuation_messages(context: str, guidance: str | None = None) -> list[dict[str, str]]:
    """The system + user messages for one continuation request."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_user_prompt(context, guidance)},
    ]


# For chat models without CRA training (the "generic" profile): Ollama's own chat template
# applies, and the whole reply is prose, apart from a leading <think> block.
GENERIC_INSTRUCTION = (
    "Continue the story below from exactly where it stops. Keep its voice, tense, point of view "
    "and style. Write only the continuation: no title, no summary, no commentary."
)


def generic_messages(context: str, guidance: str | None = None) -> list[dict[str, str]]:
    """System + user messages asking any chat model to continue `context`."""
    instruction = GENERIC_INSTRUCTION
    if guidance is not None and guidance.strip():
        instruction += f"\n\nWhat happens next: {' '.join(guidance.split())}"
    user = f"{instruction}\n\n### Story so far:\n{context.strip()}\n"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def render_training_example(
    context: str, continuation: str, reasoning: str, guidance: str | None = None
) -> dict[str, list[dict[str, str]]]:
    """One chat-format training record: `{"messages": [system, user, assistant]}`.

    The system and user turns are exactly the ones the app sends for the same context and
    guidance, so `render_chatml(record["messages"][:-1])` is the app's prompt.
    """
    return {
        "messages": [
            *continuation_messages(context, guidance),
            {"role": "assistant", "content": render_assistant_turn(reasoning, continuation)},
        ]
    }
