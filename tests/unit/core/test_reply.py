"""A whole reply through parser, echo trim and length limit; what a stop keeps at any moment."""

from __future__ import annotations

from storyloom.core.length import Length
from storyloom.core.reply import ReplyReader
from storyloom.prompting import AnswerDelta, Malformation, ReasoningDelta

STORY = (
    "The lighthouse had been dark for eleven years.\n\n"
    "“Is anyone there?” Maren called. The door at the foot of the stair stood open."
)


def read(reader: ReplyReader, chunks: list[str]) -> tuple[str, str]:
    events = [e for chunk in chunks for e in reader.feed(chunk)] + reader.close()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return reasoning, "".join(e.text for e in events if isinstance(e, AnswerDelta))


def test_a_cra_reply_repeating_the_last_paragraph_with_straight_quotes() -> None:
    reply = (
        "<reasoning>She is scared.</reasoning><answer>"
        '"Is anyone there?" Maren called. The door at the foot of the stair stood open.\n\n'
        "No one answered. The wind moved in the stairwell. Somewhere above, glass rang. "
        "She climbed.</answer>"
    )
    chunks = [reply[i : i + 5] for i in range(0, len(reply), 5)]
    reasoning, answer = read(ReplyReader(STORY, length=Length.FEW), chunks)
    assert reasoning == "She is scared."
    assert answer == (
        "No one answered. The wind moved in the stairwell. Somewhere above, glass rang."
    )


def test_a_stop_keeps_what_the_echo_trim_was_holding() -> None:
    reader = ReplyReader(STORY)
    # "The door at the" could still be the start of an echo of the story's last sentence...
    assert read_partial(reader, ["<answer>The door", " at the"]) == ""
    assert reader.held == "The door at the"  # ...but a stop now keeps it: it is not an echo yet
    # An answer that so far repeats the story's end exactly would be cut at the end, so a stop
    # keeps nothing of it.
    echoing = ReplyReader(STORY)
    read_partial(echoing, ["<answer>Maren called. The door at the foot of the stair stood open."])
    assert echoing.held == ""


def test_what_a_stop_keeps_includes_an_undecided_sentence_end() -> None:
    reader = ReplyReader(STORY, length=Length.SENTENCE)
    assert read_partial(reader, ["<answer>Maren met Mr.", " Hale"]) == "Maren met Mr."
    assert reader.held == " Hale"  # after "Mr." the whole next word decides
    assert not reader.reached


def test_a_prefilled_plan_leaves_only_the_answer_to_read() -> None:
    reader = ReplyReader(STORY, prefill="<reasoning>An edited plan.</reasoning><answer>")
    assert read(reader, [" She", " climbed.", "</answer>"]) == ("", "She climbed.")
    assert reader.malformations == ()


def test_a_reply_cut_by_the_limit_is_not_malformed() -> None:
    reader = ReplyReader(STORY, length=Length.SENTENCE)
    read_partial(reader, ["<reasoning>Plan.</reasoning><answer>She ran. He", " followed."])
    assert reader.reached
    assert read(reader, []) == ("", "")
    assert reader.malformations == ()


def read_partial(reader: ReplyReader, chunks: list[str]) -> str:
    events = [e for chunk in chunks for e in reader.feed(chunk)]
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def test_an_unfinished_reply_is_still_flagged() -> None:
    reader = ReplyReader(STORY)
    read(reader, ["<reasoning>Plan.</reasoning><answer>She ran"])
    assert reader.malformations == (Malformation.MISSING_ANSWER_CLOSE,)
