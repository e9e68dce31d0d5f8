"""Cutting the story to the token budget at a paragraph, sentence or word boundary."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storyloom.core.context_window import (
    context_token_budget,
    cut_context,
    prompt_overhead,
)
from storyloom.core.tokens import TokenEstimator

P1 = "The lighthouse had been dark for eleven years. Maren rowed out anyway."
P2 = "The sea was calm that evening. She tied the boat to the iron ring."
P3 = "At the top of the stair there was a table laid for two."
STORY = f"{P1}\n\n{P2}\n\n{P3}"


def test_a_story_that_fits_is_sent_whole() -> None:
    cut = cut_context(STORY + "\n\n", 10_000)
    assert cut.text == STORY
    assert cut.is_whole_story


def test_cut_prefers_a_paragraph_boundary() -> None:
    cut = cut_context(STORY, len(P2) + len(P3) + 10)
    assert cut.text == f"{P2}\n\n{P3}"
    assert STORY[cut.start :] == cut.text


def test_paragraph_boundary_wins_only_if_it_keeps_half_the_window() -> None:
    window = len(P3) + 40  # the last paragraph break lies 38 characters into the window
    assert cut_context(STORY, window).text == P3


def test_cut_falls_back_to_a_sentence_boundary() -> None:
    story = " ".join(f"Sentence number {i} ends here." for i in range(50))
    cut = cut_context(story, 100)
    assert cut.text.startswith("Sentence number 4")
    assert cut.text.endswith("Sentence number 49 ends here.")
    assert len(cut.text) <= 100


def test_cut_falls_back_to_a_word_boundary() -> None:
    story = "word " * 200
    cut = cut_context(story, 52)
    assert cut.text.startswith("word")
    assert len(cut.text) <= 52


def test_closing_quotes_belong_to_the_sentence_before_the_cut() -> None:
    story = "x" * 200 + " he said. “Go home.” She left the room quietly and did not look back."
    cut = cut_context(story, 56)  # the window starts inside “Go home.”
    assert cut.text == "She left the room quietly and did not look back."


def test_zero_budget_sends_nothing() -> None:
    assert cut_context(STORY, 0).text == ""


def test_budget_reserves_the_reply_and_the_template() -> None:
    estimator = TokenEstimator()
    overhead = prompt_overhead(estimator, None)
    assert overhead > 50  # system, task and ChatML markers
    assert prompt_overhead(estimator, "She finds the letter.") > overhead
    assert context_token_budget(16384, 2048, overhead) == 16384 - 2048 - overhead


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab .!?\n”")), max_size=400),
    st.integers(min_value=1, max_value=500),
)
def test_cut_always_fits_and_is_a_suffix_of_the_story(story: str, max_chars: int) -> None:
    cut = cut_context(story, max_chars)
    assert len(cut.text) <= max_chars
    assert story.rstrip()[cut.start :] == cut.text
