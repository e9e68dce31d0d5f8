"""Golden tests for the teacher prompts that make the synthetic reasoning."""

from __future__ import annotations

import pytest

from storyloom import prompting

CONTEXT = "  The rain had not stopped.\n\n“Open the door,” said Mr. Hale.\n"
CONTINUATION = "She stood on the step, soaked.\n"


def test_monologue_prompt() -> None:
    assert prompting.render_monologue_prompt(CONTEXT, CONTINUATION) == (
        "### System: You are a Writer’s Assistant.\n\n"
        "### Task: Read the beginning of a story, and the continuation. Understand how the story "
        "flows, what motivations the characters have and how they will interact with each other "
        "and the world. Reconstruct the internal monologue of the Author, that resulted in the "
        "continuation of the story. Only respond with the internal monologue please. Think step "
        "by step within the monologue. Always keep in mind what happens in the Continuation and "
        "if you can, include dialogue or event pieces from in it in the internal monologue, if it "
        "was an idea.\n\n"
        "### Beginning:\nThe rain had not stopped.\n\n“Open the door,” said Mr. Hale.\n\n"
        "### Continuation:\nShe stood on the step, soaked.\n"
    )


def test_guidance_prompt_asks_for_one_sentence() -> None:
    text = prompting.render_guidance_prompt(CONTEXT, CONTINUATION)
    assert "Very briefly and in a single sentence, summarize how the story continues" in text
    assert text.endswith("### Continuation:\nShe stood on the step, soaked.\n")


def test_guided_monologue_prompt_carries_the_guidance() -> None:
    text = prompting.render_guided_monologue_prompt(CONTEXT, " Hale lets her in.\n", CONTINUATION)
    assert "The Author had guidance to help determine the direction of the story." in text
    assert "\n\n### Guidance:\nHale lets her in.\n\n### Continuation:\n" in text
    assert "Repeat relevant parts of the guidance" in text


def test_directions_prompt_asks_for_one_sentence_each() -> None:
    assert prompting.render_directions_prompt(CONTEXT) == (
        "### System: You are a Writer’s Assistant.\n\n"
        "### Task: Read the beginning of a story. Suggest three different ways the story could "
        "continue. Very briefly and in a single sentence each, summarize how the story "
        "continues. Answer with the sentences only, one per line.\n\n"
        "### Beginning:\nThe rain had not stopped.\n\n“Open the door,” said Mr. Hale.\n"
    )
    assert "Suggest two different ways" in prompting.render_directions_prompt(CONTEXT, 2)
    with pytest.raises(ValueError, match="between 2 and 5"):
        prompting.render_directions_prompt(CONTEXT, 1)
