"""Prompts for the teacher LLM that writes the synthetic reasoning of the training data.

The seed method: show a strong model a stretch of a book (the context) and what the author
wrote next (the continuation), and have it reconstruct the author's internal monologue that led
from one to the other. For the guided variant the teacher first sums up in one sentence how the
story continues (that sentence becomes the `### Guidance:` of the training prompt), then writes a
monologue that plans with that guidance in mind. The wording follows the seed's prompts, with
their hard line wraps and a stray typo removed; they are versioned with PROMPT_FORMAT_VERSION.

The app's "Suggest directions" asks the writer's own model the guidance question the other way
round: not how the story did continue, but a few one-sentence ways it could, in the same words,
so the suggestions read like the guidance the guided models were trained with.
"""

from __future__ import annotations

_WRITERS_ASSISTANT = "### System: You are a Writer’s Assistant."

_MONOLOGUE_TASK = (
    "### Task: Read the beginning of a story, and the continuation. Understand how the story "
    "flows, what motivations the characters have and how they will interact with each other and "
    "the world. Reconstruct the internal monologue of the Author, that resulted in the "
    "continuation of the story. Only respond with the internal monologue please. Think step by "
    "step within the monologue. Always keep in mind what happens in the Continuation and if you "
    "can, include dialogue or event pieces from in it in the internal monologue, if it was an idea."
)

_GUIDED_MONOLOGUE_TASK = (
    "### Task: Read the beginning of a story, and the continuation. Understand how the story "
    "flows, what motivations the characters have and how they will interact with each other and "
    "the world. Reconstruct the internal monologue of the Author, that resulted in the "
    "continuation of the story. The Author had guidance to help determine the direction of the "
    "story. Only respond with the internal monologue please. Think step by step within the "
    "monologue. Always keep in mind what happens in the Continuation and if you can, include "
    "dialogue or event pieces from in it in the internal monologue, if it was an idea. Repeat "
    "relevant parts of the guidance during the internal monologue when planning the next steps."
)

_GUIDANCE_TASK = (
    "### Task: Read the beginning of a story, and the continuation. Very briefly and in a single "
    "sentence, summarize how the story continues in the Continuation."
)

_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _directions_task(count: int) -> str:
    return (
        f"### Task: Read the beginning of a story. Suggest {_NUMBERS[count]} different ways the "
        "story could continue. Very briefly and in a single sentence each, summarize how the "
        "story continues. Answer with the sentences only, one per line."
    )


def render_monologue_prompt(context: str, continuation: str) -> str:
    """Ask the teacher for the author's internal monologue (the reasoning of one example)."""
    return "\n\n".join(
        [
            _WRITERS_ASSISTANT,
            _MONOLOGUE_TASK,
            f"### Beginning:\n{context.strip()}",
            f"### Continuation:\n{continuation.strip()}\n",
        ]
    )


def render_guidance_prompt(context: str, continuation: str) -> str:
    """Ask the teacher for a one-sentence summary of how the story continues."""
    return "\n\n".join(
        [
            _WRITERS_ASSISTANT,
            _GUIDANCE_TASK,
            f"### Beginning:\n{context.strip()}",
            f"### Continuation:\n{continuation.strip()}\n",
        ]
    )


def render_guided_monologue_prompt(context: str, guidance: str, continuation: str) -> str:
    """Ask the teacher for a monologue that plans with `guidance` in mind."""
    return "\n\n".join(
        [
            _WRITERS_ASSISTANT,
            _GUIDED_MONOLOGUE_TASK,
            f"### Beginning:\n{context.strip()}",
            f"### Guidance:\n{' '.join(guidance.split())}",
            f"### Continuation:\n{continuation.strip()}\n",
        ]
    )


def render_directions_prompt(context: str, count: int = 3) -> str:
    """Ask a model for `count` (2 to 5) one-sentence directions the story could take next."""
    if count not in _NUMBERS:
        raise ValueError(f"count must be between 2 and 5, got {count}")
    return "\n\n".join(
        [_WRITERS_ASSISTANT, _directions_task(count), f"### Beginning:\n{context.strip()}\n"]
    )
