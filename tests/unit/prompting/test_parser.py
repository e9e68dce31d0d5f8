"""The streaming reply parser: realistic CRA output, real malformations, any chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyloom.prompting import (
    THINK_TAGS,
    AnswerDelta,
    Malformation,
    ReasoningDelta,
    ResponseParser,
    parse_response,
)

# A reply in the shape cra-v1-7b really produces: leading newline, a long monologue that drafts
# prose (with dialogue, typographic quotes and blank lines) before the answer, newlines
# around every tag.
REASONING = """Alright, so Hale has been waiting three days for the rain to stop, and now someone \
is at the door. He is afraid, but he is also curious — that is his flaw.

What does the visitor want? Maybe she brings the letter from his brother. Let me draft it:

"Open the door," said Mr. Hale. She stood on the step, soaked. ‘You’re late,’ he said.

Okay, that works. I’ll keep the tension and end on the letter < the reader's expectations."""

ANSWER = """She stood on the step, soaked to the bone, a parcel pressed to her chest.

“You’re late,” Hale said.

‘I came as fast as the river allowed,’ she answered, and held out the letter."""

CRA_REPLY = f"\n<reasoning>\n{REASONING}\n</reasoning>\n<answer>\n{ANSWER}\n</answer>"


def stream(parser: ResponseParser, chunks: list[str]) -> tuple[str, str]:
    events = [e for c in chunks for e in parser.feed(c)] + parser.close()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return reasoning, answer


def test_realistic_cra_reply() -> None:
    parsed = parse_response(CRA_REPLY)
    assert parsed.reasoning == REASONING
    assert parsed.answer == ANSWER
    assert parsed.well_formed


def test_realistic_reply_streamed_token_by_token() -> None:
    chunks = [CRA_REPLY[i : i + 3] for i in range(0, len(CRA_REPLY), 3)]
    assert stream(ResponseParser(), chunks) == (REASONING, ANSWER)


@pytest.mark.parametrize(
    ("reply", "reasoning", "answer", "malformations"),
    [
        pytest.param(
            "<reasoning>plan<reasoning><answer>prose</answer>",
            "plan",
            "prose",
            {Malformation.REPEATED_REASONING_OPEN, Malformation.MISSING_REASONING_CLOSE},
            id="second-opening-tag-instead-of-closing",
        ),
        pytest.param(
            "<reasoning>plan<reasoning>\nmore plan<answer>prose",
            "plan\nmore plan",
            "prose",
            {
                Malformation.REPEATED_REASONING_OPEN,
                Malformation.MISSING_REASONING_CLOSE,
                Malformation.MISSING_ANSWER_CLOSE,
            },
            id="second-opening-tag-text-kept",
        ),
        pytest.param(
            "<reasoning>plan</reasoning><answer>prose that was cut off by num_pred",
            "plan",
            "prose that was cut off by num_pred",
            {Malformation.MISSING_ANSWER_CLOSE},
            id="missing-answer-close",
        ),
        pytest.param(
            "\n\n\n<reasoning>plan</reasoning><answer>prose</answer>",
            "plan",
            "prose",
            set(),
            id="leading-newlines",
        ),
        pytest.param(
            "<reasoning>  plan  </reasoning>  \n\t <answer> \n prose \n </answer>\n",
            "plan",
            "prose",
            set(),
            id="whitespace-between-tags",
        ),
        pytest.param(
            "It was a dark night.\n\nThe wind howled.",
            "",
            "It was a dark night.\n\nThe wind howled.",
            {Malformation.NO_TAGS},
            id="no-tags-at-all-is-all-answer",
        ),
        pytest.param("", "", "", {Malformation.NO_TAGS}, id="empty"),
        pytest.param(
            "<answer>prose</answer>",
            "",
            "prose",
            {Malformation.NO_REASONING},
            id="answer-only",
        ),
        pytest.param(
            "<reasoning>plan that never ends",
            "plan that never ends",
            "",
            {Malformation.NO_ANSWER},
            id="reasoning-only",
        ),
        pytest.param(
            "<reasoning>a</reasoning>\nb</reasoning><answer>c</answer>",
            "a\nb",
            "c",
            {Malformation.STRAY_TAG},
            id="stray-closing-reasoning-tag-dropped-text-kept",
        ),
        pytest.param(
            "<reasoning>plan</reasoning><answer>prose</answer>\nI hope this helps!",
            "plan",
            "prose",
            {Malformation.TEXT_AFTER_ANSWER},
            id="chatter-after-answer-ignored",
        ),
        pytest.param(
            "Sure! <reasoning>plan</reasoning><answer>prose</answer>",
            "plan",
            "Sure!prose",
            {Malformation.TEXT_BEFORE_TAGS},
            id="text-before-tags-stays-answer",
        ),
        pytest.param(
            "<Reasoning>plan</REASONING><ANSWER>prose</Answer>",
            "plan",
            "prose",
            set(),
            id="tags-any-case",
        ),
        pytest.param(
            "<reasoning>if a < b and <b>bold</b> <answ</reasoning><answer>x <- y</answer>",
            "if a < b and <b>bold</b> <answ",
            "x <- y",
            set(),
            id="angle-brackets-that-are-no-tags",
        ),
        pytest.param(
            "<reasoning>plan</reasoning><answer>prose</ans",
            "plan",
            "prose",
            {Malformation.MISSING_ANSWER_CLOSE},
            id="tag-cut-off-at-the-end-is-dropped",
        ),
    ],
)
def test_malformed_replies(
    reply: str, reasoning: str, answer: str, malformations: set[Malformation]
) -> None:
    parsed = parse_response(reply)
    assert (parsed.reasoning, parsed.answer) == (reasoning, answer)
    assert set(parsed.malformations) == malformations
    # one byte at a time gives the same parts
    assert stream(ResponseParser(), list(reply)) == (reasoning, answer)


def test_partial_tag_is_held_back_until_decided() -> None:
    parser = ResponseParser()
    assert parser.feed("<reasoning>The plan") == [ReasoningDelta("The plan")]
    assert parser.feed("</reas") == []
    assert parser.feed("oning><ans") == []
    assert parser.feed("wer>He ") == [AnswerDelta("He")]
    assert parser.feed("ran.") == [AnswerDelta(" ran.")]
    assert parser.feed("\n</answer>") == []
    assert parser.close() == []
    assert parser.malformations == ()


def test_untagged_text_streams_as_answer_without_waiting_for_the_end() -> None:
    parser = ResponseParser()
    assert parser.feed("\nOnce upon") == [AnswerDelta("Once upon")]
    assert parser.feed(" a time") == [AnswerDelta(" a time")]
    assert parser.close() == []
    assert parser.malformations == (Malformation.NO_TAGS,)


def test_feed_after_close_is_an_error() -> None:
    parser = ResponseParser()
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed("x")


def test_events_of_one_kind_are_merged() -> None:
    events = ResponseParser().feed("<reasoning>a<reasoning>b</reasoning><answer>c")
    assert events == [ReasoningDelta("ab"), AnswerDelta("c")]


# -- property tests -------------------------------------------------------------------------

TAGS = ["<reasoning>", "</reasoning>", "<answer>", "</answer>", "<REASONING>", "</answer"]
pieces = st.one_of(
    st.sampled_from(TAGS),
    st.text(alphabet="ab <>/\n’“”\"'\t.", max_size=12),
    st.sampled_from(["<", "</", "<reas", "<ans", "\n\n", "  "]),
)
replies = st.lists(pieces, max_size=25).map("".join)


def cut(text: str, cuts: set[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def chunked(draw: st.DrawFn, text_strategy: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    text = draw(text_strategy)
    return text, cut(text, draw(st.sets(st.integers(0, len(text)), max_size=len(text) + 1)))


@settings(max_examples=400, deadline=None)
@given(chunked(replies))
def test_any_chunking_gives_the_same_parts_as_parse_response(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    parser = ResponseParser()
    assert stream(parser, chunks) == (
        parse_response(text).reasoning,
        parse_response(text).answer,
    )
    assert parser.malformations == parse_response(text).malformations


# Text whose only angle brackets belong to tags or tag fragments. (With free '<' and '>', dropping
# a stray tag can join "</answer" and ">" into tag-like text that never was a tag in the reply.)
tag_soup = st.lists(
    st.one_of(
        st.sampled_from(TAGS),
        st.text(alphabet="ab /\n’.", max_size=12),
        st.sampled_from(["<", "</", "<reas", "<ans"]),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(chunked(tag_soup))
def test_no_tag_ever_leaks_into_a_delta_whatever_the_chunk_edges(
    case: tuple[str, list[str]],
) -> None:
    """A tag split across chunks is never emitted as text, in part or whole."""
    _, chunks = case
    parser = ResponseParser()
    for chunk in chunks:
        for event in parser.feed(chunk):
            lowered = event.text.lower()
            for tag in ("<reasoning>", "</reasoning>", "<answer>", "</answer>"):
                assert tag not in lowered


plain = st.text(alphabet=st.characters(blacklist_characters="<"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(plain, plain, st.data())
def test_well_formed_replies_round_trip(reasoning: str, answer: str, data: st.DataObject) -> None:
    reply = f"<reasoning>{reasoning}</reasoning>\n<answer>{answer}</answer>"
    chunks = cut(reply, data.draw(st.sets(st.integers(0, len(reply)), max_size=20)))
    assert stream(ResponseParser(), chunks) == (reasoning.strip(), answer.strip())
    assert parse_response(reply).well_formed


# -- the <think> scheme of generic reasoning models -------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reasoning", "answer"),
    [
        ("<think>\nShe is tired.\n</think>\n\nShe slept.", "She is tired.", "She slept."),
        ("She slept. No thinking at all.", "", "She slept. No thinking at all."),
        ("<think>cut off before the end", "cut off before the end", ""),
        ("<think>a</think>b <answer>c</answer>", "a", "b <answer>c</answer>"),
    ],
)
def test_think_scheme(reply: str, reasoning: str, answer: str) -> None:
    parsed = parse_response(reply, THINK_TAGS)
    assert (parsed.reasoning, parsed.answer) == (reasoning, answer)
    assert stream(ResponseParser(THINK_TAGS), list(reply)) == (reasoning, answer)


@settings(max_examples=200, deadline=None)
@given(
    chunked(
        st.lists(
            st.one_of(
                st.sampled_from(["<think>", "</think>", "<th", "</"]),
                st.text("ab <>\n", max_size=8),
            ),
            max_size=20,
        ).map("".join)
    )
)
def test_think_scheme_is_chunking_independent(case: tuple[str, list[str]]) -> None:
    text, chunks = case
    expected = parse_response(text, THINK_TAGS)
    assert stream(ResponseParser(THINK_TAGS), chunks) == (expected.reasoning, expected.answer)
