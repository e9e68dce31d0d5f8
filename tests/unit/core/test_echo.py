"""Trimming an answer's opening echo of the context's last words, sentences or paragraphs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storyloom.core.echo import TAIL_CHARS, EchoTrimmer, echo_length

P1 = "The lighthouse had been dark for eleven years. Maren rowed out anyway."
P2 = (
    "“Is anyone there?” she called. The door at the foot of the stair stood open, and the wind\n"
    "breathed through it like a sleeping animal."
)
CONTEXT = f"{P1}\n\n{P2}\n"


def trimmed(context: str, answer: str, **kwargs: int) -> str:
    return answer[echo_length(context, answer, **kwargs) :]


def stream(context: str, chunks: list[str], **kwargs: int) -> list[str]:
    trimmer = EchoTrimmer(context, **kwargs)
    return [trimmer.feed(chunk) for chunk in chunks] + [trimmer.close()]


def test_last_paragraph_rewrapped_with_straight_quotes_is_trimmed() -> None:
    answer = (
        '\n"Is anyone there?" she called. The door at the foot of the stair\n'
        "stood open, and the wind breathed through it like a sleeping animal.\n\n"
        "No one answered."
    )
    assert trimmed(CONTEXT, answer) == "No one answered."


def test_last_two_paragraphs_joined_into_one_are_trimmed() -> None:
    straight = P2.replace("“", '"').replace("”", '"')
    answer = f"{P1} {straight} Then the light came on."
    assert trimmed(CONTEXT, answer) == "Then the light came on."


def test_last_sentence_only_is_trimmed() -> None:
    answer = (
        "The door at the foot of the stair stood open, and the wind breathed through it like a "
        "sleeping animal. Maren went up."
    )
    assert trimmed(CONTEXT, answer) == "Maren went up."


def test_an_answer_that_does_not_echo_is_kept_whole() -> None:
    answer = "  Maren climbed the stair, counting the steps."
    assert echo_length(CONTEXT, answer) == 0


def test_a_short_coincidental_overlap_is_not_trimmed() -> None:
    answer = "a sleeping animal. Nothing else moved."  # 18 characters of overlap
    assert echo_length(CONTEXT, answer) == 0
    assert trimmed(CONTEXT, answer, min_chars=10) == "Nothing else moved."


def test_an_answer_that_is_all_echo_is_trimmed_entirely() -> None:
    answer = P2.replace("“", '"').replace("”", '"').replace("\n", " ") + "\n"
    assert echo_length(CONTEXT, answer) == len(answer)
    assert "".join(stream(CONTEXT, [answer[:30], answer[30:]])) == ""
    last_sentence = P2[P2.index("The door") :]  # the echo ends exactly where the answer ends
    assert echo_length(CONTEXT, last_sentence) == len(last_sentence)


def test_an_echo_ending_mid_word_is_not_cut() -> None:
    context = "She pulled on her boots and stepped out into the dark"
    answer = "stepped out into the darkness of the yard."
    assert echo_length(context, answer) == 0


def test_an_echo_starting_mid_word_in_the_context_is_not_cut() -> None:
    context = "She followed the overgrown garden path to the gate"
    answer = "grown garden path to the gate creaked behind her."
    assert echo_length(context, answer) == 0
    grown = "She followed the grown garden path to the gate"
    assert trimmed(grown, answer) == "creaked behind her."


def test_case_differences_are_not_an_echo() -> None:
    answer = "THE DOOR AT THE FOOT OF THE STAIR stood open, and the wind breathed through it."
    assert echo_length(CONTEXT, answer) == 0


def test_echo_of_a_passage_that_is_not_the_end_is_not_trimmed() -> None:
    answer = f"{P1} Maren tied the boat."
    assert echo_length(CONTEXT, answer) == 0


def test_unicode_text_and_typographic_apostrophes() -> None:
    context = (
        "Zoë’s café had closed. 北京的雨下了一整夜。\nShe waited for the rain to stop — it didn’t."
    )
    answer = "北京的雨下了一整夜。 She waited for the rain to stop — it didn't.\n天亮了。"
    assert trimmed(context, answer) == "天亮了。"


def test_text_is_held_only_while_it_could_still_be_an_echo() -> None:
    # "Maren " could begin "Maren rowed out anyway." (the end of P1 is not the end of the
    # context, but held text may be a prefix of any candidate start); "climbed" rules it out.
    assert stream(CONTEXT, ["Maren ", "climbed", " up."]) == ["", "Maren climbed", " up.", ""]
    assert stream(CONTEXT, ["Xylophones ", "rang."]) == ["Xylophones ", "rang.", ""]


def test_whitespace_after_an_echo_is_dropped_across_chunks() -> None:
    echo = "The door at the foot of the stair stood open, and the wind breathed through it like "
    chunks = [echo, "a sleeping animal.", "\n", "\n  ", "Maren", " went up."]
    assert stream(CONTEXT, chunks) == ["", "", "", "", "Maren", " went up.", ""]


def test_only_the_context_tail_is_searched() -> None:
    filler = "Rain fell on the harbour and the boats knocked together. " * 1000  # ~57k chars
    context = filler + P2
    answer = P2 + " And so on."
    assert trimmed(context, answer) == "And so on."
    # An echo within the tail is found; a longer repeat is beyond what is searched, left alone.
    near_tail = context[-(TAIL_CHARS - 100) :]
    near_tail = near_tail[near_tail.index(" ") + 1 :]
    assert trimmed(context, near_tail + " More.") == "More."
    long_echo = context[-3 * TAIL_CHARS :] + " More."
    assert echo_length(context, long_echo) == 0
    # Token-sized chunks over a repetitive context (its speed belongs in a benchmark, not here).
    trimmer = EchoTrimmer("a " * 25_000)
    out = [trimmer.feed(chunk) for chunk in ["a a "] * 600 + ["b"]] + [trimmer.close()]
    assert "".join(out).endswith("b")


def test_min_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_chars"):
        EchoTrimmer(CONTEXT, min_chars=0)


def test_feed_after_close_is_an_error_and_close_is_idempotent() -> None:
    trimmer = EchoTrimmer(CONTEXT)
    assert trimmer.feed("The door") == ""
    assert trimmer.close() == "The door"
    assert trimmer.close() == ""
    with pytest.raises(RuntimeError):
        trimmer.feed("more")


# -- any chunking gives the same result ---------------------------------------------------------

_WORDS = st.sampled_from(["the", "door", "wind", "Maren", "it's", "a", "b", "é", "北"])
_SEPARATORS = st.sampled_from([" ", " ", "  ", "\n", "\n\n", ". ", ", "])


@st.composite
def _texts(draw: st.DrawFn, max_words: int = 20) -> str:
    words = draw(st.lists(_WORDS, max_size=max_words))
    parts: list[str] = []
    for word in words:
        quote = draw(st.sampled_from(["", '"', "'", "“", "’"]))
        parts.append(quote + word + draw(_SEPARATORS))
    return "".join(parts)


def _vary(draw: st.DrawFn, text: str) -> str:
    """Re-space and re-quote `text` the way a model's echo might."""
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(draw(st.sampled_from([" ", "\n", "  ", " \n"])))
        elif ch in '"“”':
            out.append(draw(st.sampled_from(['"', "“", "”"])))
        elif ch in "'‘’":
            out.append(draw(st.sampled_from(["'", "‘", "’"])))
        else:
            out.append(ch)
    return "".join(out)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, str, int, list[str]]:
    context = draw(_texts(max_words=30))
    echo_from = draw(st.integers(min_value=0, max_value=len(context)))
    echo = _vary(draw, context[echo_from:]) if draw(st.booleans()) else ""
    answer = draw(st.sampled_from(["", " ", "\n"])) + echo + draw(_texts())
    cuts = sorted(draw(st.lists(st.integers(0, len(answer)), max_size=8)))
    chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    return context, answer, draw(st.integers(min_value=1, max_value=30)), chunks


@settings(max_examples=400, deadline=None)
@given(_cases())
def test_any_chunking_returns_the_answer_after_its_echo(
    case: tuple[str, str, int, list[str]],
) -> None:
    context, answer, min_chars, chunks = case
    kept = "".join(stream(context, chunks, min_chars=min_chars))
    assert kept == answer[echo_length(context, answer, min_chars=min_chars) :]


@settings(max_examples=200, deadline=None)
@given(_texts(max_words=30), st.data())
def test_a_varied_echo_of_a_final_sentence_is_trimmed(context: str, data: st.DataObject) -> None:
    sentence = "The wind breathed through it like a sleeping animal."
    context = context + sentence
    echo = _vary(data.draw, sentence)
    assert trimmed(context, echo + "\nZebras.") == "Zebras."
