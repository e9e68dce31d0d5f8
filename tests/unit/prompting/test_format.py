"""Golden tests: the exact strings the cra-v1 models were trained on (nanochat style)."""

from __future__ import annotations

import pytest

from storyloom import prompting
from storyloom.prompting import (
    SYSTEM_PROMPT,
    continuation_messages,
    render_chatml,
    render_training_example,
    render_user_prompt,
)

STORY = 'The rain had not stopped for three days.\n\n"Open the door," said Mr. Hale.'

GOLDEN_USER = (
    "### System: You are a writer\u2019s assistant.\n"
    "\n"
    "### Task: Understand how the story flows, what motivations the characters have and how "
    "they will interact with each other and the world as a step by step thought process before "
    "continuing the story.\n"
    "\n"
    "### Context:\n"
    'The rain had not stopped for three days.\n\n"Open the door," said Mr. Hale.\n'
)

GOLDEN_GUIDED_USER = (
    "### System: You are a writer\u2019s assistant.\n"
    "\n"
    "### Task: Understand how the story flows, what motivations the characters have and how "
    "they will interact with each other and the world as a step by step thought process before "
    "continuing the story. Keep the guidance in mind when writing the story.\n"
    "\n"
    "### Guidance: Hale finds the letter under the mat.\n"
    "\n"
    "### Context:\n"
    'The rain had not stopped for three days.\n\n"Open the door," said Mr. Hale.\n'
)

GOLDEN_CHATML = (
    "<|im_start|>system\nYou are a writer\u2019s assistant.<|im_end|>\n"
    "<|im_start|>user\n" + GOLDEN_USER + "<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_user_prompt_is_the_seed_format() -> None:
    assert render_user_prompt(STORY) == GOLDEN_USER


def test_user_prompt_uses_the_typographic_apostrophe_the_model_was_trained_with() -> None:
    text = render_user_prompt("x")
    assert "writer\u2019s" in text
    assert "writer's" not in text
    assert SYSTEM_PROMPT == "You are a writer\u2019s assistant."


def test_guided_user_prompt() -> None:
    assert render_user_prompt(STORY, "Hale finds the letter under the mat.") == GOLDEN_GUIDED_USER


@pytest.mark.parametrize("guidance", [None, "", "   \n"])
def test_blank_guidance_gives_the_unguided_prompt(guidance: str | None) -> None:
    assert render_user_prompt(STORY, guidance) == GOLDEN_USER


def test_guidance_is_flattened_to_one_line() -> None:
    text = render_user_prompt(STORY, "  Hale finds\nthe letter   under the mat. ")
    assert "### Guidance: Hale finds the letter under the mat.\n\n### Context:" in text


def test_context_surrounding_whitespace_is_dropped_but_inner_layout_kept() -> None:
    assert render_user_prompt("\n\n  " + STORY + "\n\n\n") == GOLDEN_USER


def test_chatml_ends_in_an_open_assistant_turn() -> None:
    assert render_chatml(continuation_messages(STORY)) == GOLDEN_CHATML


def test_chatml_adds_the_system_prompt_when_missing() -> None:
    only_user = [{"role": "user", "content": GOLDEN_USER}]
    assert render_chatml(only_user) == GOLDEN_CHATML


def test_chatml_prefill_continues_the_assistant_turn() -> None:
    plan = "<reasoning>Hale hesitates, then opens it.</reasoning><answer>"
    assert render_chatml(continuation_messages(STORY), prefill=plan) == GOLDEN_CHATML + plan


def test_chatml_keeps_a_given_system_prompt() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render_chatml(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(
    "bad", [{"role": "tool", "content": "x"}, {"role": "user", "content": None}, {"content": "x"}]
)
def test_chatml_rejects_malformed_messages(bad: dict) -> None:
    with pytest.raises(ValueError):
        render_chatml([bad])


def test_stop_strings_end_a_qwen_turn() -> None:
    assert prompting.STOP_STRINGS == ("<|im_end|>", "<|endoftext|>", "<|im_start|>")


def test_training_example_record() -> None:
    record = render_training_example(STORY, "He opened it.", "Hale is afraid.")
    assert record == {
        "messages": [
            {"role": "system", "content": "You are a writer\u2019s assistant."},
            {"role": "user", "content": GOLDEN_USER},
            {
                "role": "assistant",
                "content": "<reasoning>Hale is afraid.</reasoning><answer>He opened it.</answer>",
            },
        ]
    }


@pytest.mark.parametrize("guidance", [None, "Hale finds the letter under the mat."])
def test_training_user_turn_is_byte_identical_to_what_the_app_sends(guidance: str | None) -> None:
    """The pipeline's record and the app's request share every byte before the reply."""
    record = render_training_example(STORY, "He opened it.", "Hale is afraid.", guidance)
    app_prompt = render_chatml(continuation_messages(STORY, guidance))
    assert render_chatml(record["messages"][:-1]) == app_prompt
    assert record["messages"][1]["content"].encode() == render_user_prompt(STORY, guidance).encode()


def test_training_reply_parses_back_to_its_parts() -> None:
    record = render_training_example(STORY, "He opened it.", "Hale is afraid.")
    parsed = prompting.parse_response(record["messages"][-1]["content"])
    assert (parsed.reasoning, parsed.answer, parsed.well_formed) == (
        "Hale is afraid.",
        "He opened it.",
        True,
    )


def test_format_version_is_a_non_empty_string() -> None:
    assert isinstance(prompting.PROMPT_FORMAT_VERSION, str)
    assert prompting.PROMPT_FORMAT_VERSION == "cra-1"


def test_generic_messages_for_any_chat_model() -> None:
    messages = prompting.generic_messages("  It was late.\n", "She leaves.")
    assert messages == [
        {"role": "system", "content": "You are a writer\u2019s assistant."},
        {
            "role": "user",
            "content": (
                "Continue the story below from exactly where it stops. Keep its voice, tense, "
                "point of view and style. Write only the continuation: no title, no summary, "
                "no commentary.\n\nWhat happens next: She leaves.\n\n"
                "### Story so far:\nIt was late.\n"
            ),
        },
    ]
    assert "What happens next" not in prompting.generic_messages("x")[1]["content"]


def test_plan_prefill_golden() -> None:
    """ "Rewrite from plan": the edited reasoning is given, the model continues inside <answer>."""
    prefill = prompting.render_plan_prefill("  Hale hesitates,\nthen opens it.\n")
    assert prefill == "<reasoning>Hale hesitates,\nthen opens it.</reasoning><answer>"
    assert render_chatml(continuation_messages(STORY), prefill=prefill) == (
        GOLDEN_CHATML + "<reasoning>Hale hesitates,\nthen opens it.</reasoning><answer>"
    )


def test_plan_prefill_is_the_training_reply_up_to_the_answer() -> None:
    turn = prompting.render_assistant_turn("Hale is afraid.", "He opened it.")
    assert turn.startswith(prompting.render_plan_prefill("Hale is afraid."))
