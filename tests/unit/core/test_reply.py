"""A whole reply through parser, echo trim and length limit; what a stop keeps at any moment."""

from __future__ import annotations

from storyloom.core.length import Length
from storyloom.core.reply import ReplyReader
from storyloom.prompting import THINK_TAGS, AnswerDelta, Malformation, ReasoningDelta

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


def test_what_a_stop_keeps_is_what_the_end_would_keep() -> None:
    """Held text is the answer as if it ended now: an undecided sentence end is decided the
    way close() decides it, so a stop never keeps words past the length chosen."""
    reader = ReplyReader(STORY, length=Length.SENTENCE)
    shown = read_partial(reader, ["<answer>They met at 5 p.m. The"])
    ended = ReplyReader(STORY, length=Length.SENTENCE)
    _, whole = read(ended, ["<answer>They met at 5 p.m. The"])
    assert shown + reader.held == whole == "They met at 5 p.m."
    assert not reader.reached  # asking changed nothing: the stream reads on
    assert read_partial(reader, [" two went home."]) == "m."
    assert reader.reached and reader.held == ""


def test_text_the_echo_trim_holds_goes_through_the_limit_too() -> None:
    story = "It was late. She ran to the door. He hid behind it."
    reader = ReplyReader(story, length=Length.SENTENCE)
    chunks = ["<answer>She ran to the door. He"]
    assert read_partial(reader, chunks) == ""  # it may still be an echo
    assert reader.held == "She ran to the door."  # a stop keeps one sentence, as the end would
    _, whole = read(ReplyReader(story, length=Length.SENTENCE), chunks)
    assert whole == "She ran to the door."


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


def test_a_chat_model_cut_by_the_limit_is_not_malformed_either() -> None:
    """Plain prose from a model whose <think> is optional: no tags are missing."""
    reader = ReplyReader(STORY, scheme=THINK_TAGS, length=Length.SENTENCE)
    assert read_partial(reader, ["She ran. He", " followed."]) == "She ran."
    assert reader.reached
    assert read(reader, []) == ("", "")  # the stream is closed, as the backend does
    assert reader.malformations == ()


def read_partial(reader: ReplyReader, chunks: list[str]) -> str:
    events = [e for chunk in chunks for e in reader.feed(chunk)]
    return "".join(e.text for e in events if isinstance(e, AnswerDelta))


def test_an_unfinished_reply_is_still_flagged() -> None:
    reader = ReplyReader(STORY)
    read(reader, ["<reasoning>Plan.</reasoning><answer>She ran"])
    assert reader.malformations == (Malformation.MISSING_ANSWER_CLOSE,)
