"""Directions out of the ways real models answer "suggest three ways the story could go"."""

from __future__ import annotations

import pytest

from storyloom.core.directions import directions_from_reply
from storyloom.prompting import THINK_TAGS

THREE = [
    "Maren finds her father's logbook in the lamp room.",
    "A light comes on at the top of the tower.",
    "Someone below pulls the boat away from the rock.",
]


@pytest.mark.parametrize(
    "reply",
    [
        "\n".join(THREE),
        "Here are three ways the story could continue:\n\n"
        + "\n".join(f"{n}. {d}" for n, d in enumerate(THREE, 1)),
        "\n".join(f"- **{d}**" for d in THREE),
        "\n".join(f"Direction {n}: “{d}”" for n, d in enumerate(THREE, 1)),
        "<reasoning>The reader wants the mystery to move.</reasoning><answer>"
        + "\n".join(f"{n}) {d}" for n, d in enumerate(THREE, 1))
        + "</answer>",
        " ".join(THREE),  # all in one paragraph
    ],
    ids=["plain", "numbered", "bullets-bold", "labels-quotes", "cra-tags", "paragraph"],
)
def test_directions_are_found_however_the_model_lists_them(reply: str) -> None:
    assert directions_from_reply(reply) == THREE


def test_a_thinking_model_and_extra_sentences() -> None:
    reply = (
        "<think>Three, then.</think>"
        "1. Maren climbs. She is afraid.\n2. The lamp lights.\n3. Maren climbs. Again.\n"
        "4. The keeper returns.\n5. Too many."
    )
    # one sentence each, no repeats, at most three
    assert directions_from_reply(reply, THINK_TAGS) == [
        "Maren climbs.",
        "The lamp lights.",
        "The keeper returns.",
    ]


def test_a_reply_without_directions_gives_none() -> None:
    assert directions_from_reply("<reasoning>Only thinking, cut off") == []
    assert directions_from_reply("   ") == []
