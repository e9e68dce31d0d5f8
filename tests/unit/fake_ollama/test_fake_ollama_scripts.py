"""Scripts: token chunking, tags that straddle chunks, num_predict and stop strings."""

from __future__ import annotations

import re

import ollama
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_ollama import (
    Script,
    estimate_tokens,
    running_fake_ollama,
    split_tokens,
    straddling_chunks,
    tagged_reply,
)
from fake_ollama.scripts import plan_reply

TAG = re.compile(r"</?(reasoning|answer)>")
# Story text without angle brackets, so the only tags are the reply's own.
prose = st.text(st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)), max_size=80)


def test_split_tokens_cuts_like_a_tokenizer() -> None:
    assert split_tokens("The world of magic and enchant") == [
        "The",
        " world",
        " of",
        " magic",
        " and",
        " ench",  # smol cut " enchant" the same way (06)
        "ant",
    ]
    assert split_tokens("<|im_start|>user\n") == ["<|im_start|>", "user", "\n"]


@given(st.text(max_size=200))
def test_split_tokens_never_loses_a_character(text: str) -> None:
    assert "".join(split_tokens(text)) == text


def test_estimate_tokens_counts_pieces() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("Once upon a time") == 4
    assert estimate_tokens("<|im_start|>user\nHi.<|im_end|>\n") == 7


def test_straddling_chunks_split_every_tag() -> None:
    reply = tagged_reply("The hinge was rusty.", "The door opened.")

    chunks = straddling_chunks(reply)
    glued = straddling_chunks(reply, glue=True)

    assert chunks[:3] == ["<reason", "ing>", "The"]
    assert "</reason" in chunks and "<ans" in chunks and "wer>" in chunks
    assert glued[:2] == ["<reason", "ing>The"]
    assert ".</reason" in glued and "ing><ans" in glued and "wer>The" in glued
    assert "".join(chunks) == "".join(glued) == reply


@given(reasoning=prose, answer=prose, glue=st.booleans())
def test_no_tag_ever_arrives_whole(reasoning: str, answer: str, glue: bool) -> None:
    reply = tagged_reply(reasoning, answer)

    chunks = straddling_chunks(reply, glue=glue)

    assert "".join(chunks) == reply
    assert not any(TAG.search(chunk) for chunk in chunks)
    assert len(TAG.findall(reply)) == 4


def test_straddled_chunks_reach_the_client_unchanged() -> None:
    chunks = straddling_chunks(tagged_reply("Rain. Wind.", "She waited."), glue=True)
    with running_fake_ollama(script=Script(chunks)) as server:
        client = ollama.Client(host=server.url)
        parts = [part.response for part in client.generate("smol", "x", raw=True, stream=True)]
    assert parts[:-1] == chunks  # one NDJSON line per chunk, nothing merged or re-split


def test_script_from_a_string_or_a_chunker() -> None:
    assert Script("Hello world").chunks == ("Hello", " world")
    assert Script.from_text("abc", chunker=list).chunks == ("a", "b", "c")
    assert Script(["a", "b"]).text == "ab"
    with pytest.raises(ValueError, match="done_reason"):
        Script(["a"], done_reason="eos")  # type: ignore[arg-type]


def test_plan_num_predict_cuts_with_length() -> None:
    plan = plan_reply(["a", "b", "c"], num_predict=2, stops=[], done_reason="stop")
    assert (plan.steps, plan.done_reason, plan.eval_count) == (("a", "b"), "length", 2)


def test_plan_counts_the_eos_when_the_reply_ends_by_itself() -> None:
    plan = plan_reply(["a", "b"], num_predict=-1, stops=[], done_reason="stop")
    assert (plan.done_reason, plan.eval_count) == ("stop", 3)  # 5 lines, eval_count 6 in 07
    assert plan_reply([], num_predict=-1, stops=[], done_reason="stop").eval_count == 1  # 13 ex. 6
    scripted_length = plan_reply(["a"], num_predict=-1, stops=[], done_reason="length")
    assert (scripted_length.done_reason, scripted_length.eval_count) == ("length", 1)


def test_plan_holds_back_a_possible_stop_string() -> None:
    hit = plan_reply(
        ["Yes", "<|im", "_end|>", "more"], num_predict=-1, stops=["<|im_end|>"], done_reason="stop"
    )
    miss = plan_reply(
        ["Yes", "<|im", "portant"], num_predict=-1, stops=["<|im_end|>"], done_reason="stop"
    )

    assert (hit.steps, hit.done_reason, hit.eval_count) == (("Yes", "", ""), "stop", 3)
    assert miss.steps == ("Yes", "", "<|important")  # released with the token that ruled it out
    assert miss.done_reason == "stop" and miss.text == "Yes<|important"


@given(
    chunks=st.lists(st.sampled_from(["a", "b", "<", "/", "x>", "END", " "]), max_size=30),
    stop=st.sampled_from(["END", "</x>", "b b"]),
    num_predict=st.integers(min_value=-1, max_value=40),
)
def test_plan_never_sends_a_stop_string(chunks: list[str], stop: str, num_predict: int) -> None:
    plan = plan_reply(chunks, num_predict=num_predict, stops=[stop], done_reason="stop")

    assert stop not in plan.text
    assert "".join(chunks).startswith(plan.text)
    assert len(plan.steps) <= (len(chunks) if num_predict < 0 else min(num_predict, len(chunks)))
