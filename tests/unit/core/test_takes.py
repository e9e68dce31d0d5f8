"""Takes on disk and in the text: round trips, damaged and newer files, spots found again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyloom.core import atomic_save
from storyloom.core.takes import (
    MIN_MATCH,
    NewerTakesFileError,
    Spot,
    Take,
    TakesFileError,
    TakeStore,
    load_takes,
    save_takes,
    takes_path,
)

STORY = (
    "The lighthouse had been dark for eleven years. Nobody in the village would row out to it, "
    "not after what happened to the Aldine.\n\nMaren rowed out to it at dusk."
)


def take(answer: str, **fields) -> Take:
    return Take(answer=answer, reasoning=f"Plan for {answer}", model="molbal/cra-v1-7b", **fields)


def store_with_takes() -> TakeStore:
    spot = Spot.at(STORY, len(STORY))
    spot.takes += [
        take("She tied the boat.", options={"num_ctx": 8192, "temperature": 0.7}),
        take(
            "She climbed.",
            guidance="A light comes on.",
            plan_edited=True,
            length="few",
            outcome="length_reached",
            accepted=True,
        ),
    ]
    middle = Spot.at(STORY, STORY.index("\n\n"))
    middle.takes.append(take("The gulls were silent.", profile="cra"))
    return TakeStore([spot, middle])


def test_takes_round_trip_beside_the_manuscript(tmp_path: Path) -> None:
    manuscript = tmp_path / "story.md"
    store = store_with_takes()
    assert save_takes(store, manuscript) is None
    assert takes_path(manuscript) == tmp_path / "story.md.storyloom" / "takes.json"
    loaded = load_takes(manuscript)
    assert loaded.to_json() == store.to_json()
    assert len(loaded) == 3
    assert loaded.spots[0].takes[1].guidance == "A light comes on."
    assert loaded.spots[0].takes[1].plan_edited
    assert [p.name for p in (tmp_path / "story.md.storyloom").iterdir()] == ["takes.json"]


def test_no_takes_no_folder(tmp_path: Path) -> None:
    manuscript = tmp_path / "story.md"
    assert save_takes(TakeStore(), manuscript) is None
    assert not (tmp_path / "story.md.storyloom").exists()
    assert len(load_takes(manuscript)) == 0


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manuscript = tmp_path / "story.md"
    save_takes(store_with_takes(), manuscript)
    before = takes_path(manuscript).read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_save.os, "fsync", disk_full)
    with pytest.raises(TakesFileError, match="No space left"):
        save_takes(TakeStore(), manuscript)
    assert takes_path(manuscript).read_bytes() == before
    assert [p.name for p in takes_path(manuscript).parent.iterdir()] == ["takes.json"]


def test_a_damaged_file_is_reported_then_set_aside_not_overwritten(tmp_path: Path) -> None:
    manuscript = tmp_path / "story.md"
    path = takes_path(manuscript)
    path.parent.mkdir()
    path.write_text('{"format": "storyloom-takes", "version": 1, "spots": [', encoding="utf-8")
    with pytest.raises(TakesFileError, match=r"takes\.json cannot be read: it is damaged"):
        load_takes(manuscript)
    note = save_takes(store_with_takes(), manuscript)
    assert (
        note is not None and "could not be read, so it was kept as takes.json.unreadable-" in note
    )
    kept = [p for p in path.parent.iterdir() if p.name.startswith("takes.json.unreadable-")]
    assert [p.read_text(encoding="utf-8") for p in kept] == [
        '{"format": "storyloom-takes", "version": 1, "spots": ['
    ]
    assert len(load_takes(manuscript)) == 3


def test_a_newer_storylooms_file_is_left_alone(tmp_path: Path) -> None:
    manuscript = tmp_path / "story.md"
    path = takes_path(manuscript)
    path.parent.mkdir()
    newer = json.dumps({"format": "storyloom-takes", "version": 2, "scenes": []})
    path.write_text(newer, encoding="utf-8")
    with pytest.raises(NewerTakesFileError, match=r"newer Storyloom \(takes format 2"):
        load_takes(manuscript)
    with pytest.raises(NewerTakesFileError, match="were not saved"):
        save_takes(store_with_takes(), manuscript)
    assert path.read_text(encoding="utf-8") == newer


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a Storyloom takes file"),
        ({"format": "storyloom-takes", "version": "1", "spots": []}, "version '1' is not valid"),
        ({"format": "storyloom-takes", "version": 1}, "'spots' is missing"),
        (
            {"format": "storyloom-takes", "version": 1, "spots": [{"anchor": "x"}]},
            r"spots\[0\]: 'takes' is missing",
        ),
        (
            {
                "format": "storyloom-takes",
                "version": 1,
                "spots": [{"anchor": "x", "from_start": True, "offset": 1, "takes": [{}]}],
            },
            r"spots\[0\]\.takes\[0\] has no 'answer'",
        ),
        (
            {
                "format": "storyloom-takes",
                "version": 1,
                "spots": [{"anchor": "x", "from_start": True, "offset": True, "takes": []}],
            },
            "'offset' is missing or of the wrong kind",
        ),
    ],
)
def test_malformed_files_say_where(data: object, message: str) -> None:
    with pytest.raises(TakesFileError, match=message):
        TakeStore.from_json(data)


# -- finding a spot again ---------------------------------------------------------------------


def test_a_spot_is_found_after_the_text_before_it_changed() -> None:
    spot = Spot.at(STORY, len(STORY))
    edited = "CHAPTER ONE\n\n" + STORY.replace("eleven", "twelve")  # far before the spot
    assert spot.find(edited) == len(edited)
    # An edit within the anchor but before its last MIN_MATCH characters: still found.
    edited = STORY.replace("village", "harbour town")
    assert len(STORY) - STORY.index("village") > MIN_MATCH
    assert spot.find(edited) == len(edited)
    # The words right before the spot were rewritten: its place is lost (its takes are not).
    assert spot.find(STORY.replace("at dusk", "at dawn")) is None


def test_a_continuation_from_the_same_place_is_the_same_spot() -> None:
    store = store_with_takes()
    end = store.spots[0]
    assert store.spot_at(STORY + "\n\n", len(STORY) + 2) is end  # trailing whitespace aside
    assert store.spot_at(STORY, len(STORY) - 5) is None
    assert store.spot_at(STORY + " She", len(STORY) + 4) is None


def test_equal_anchors_are_told_apart_by_where_they_were() -> None:
    refrain = "And still the sea came in, and still the sea went out, as it always had. "
    text = refrain * 3
    first, last = Spot.at(text, len(refrain)), Spot.at(text, len(text))
    assert first.anchor[-MIN_MATCH:] == last.anchor[-MIN_MATCH:]
    store = TakeStore([first, last])
    assert store.spot_at(text, len(refrain)) is first
    assert store.spot_at(text, len(text)) is last
    assert first.find(text) == len(refrain) - 1  # the space after the refrain is not the spot's


def test_a_spot_near_the_start_matches_only_there() -> None:
    spot = Spot.at("Once.", 5)
    assert spot.from_start and spot.anchor == "Once."
    assert spot.find("Once. Upon") == 5
    assert spot.score("Twice. Once.", 12) == 0
    empty = Spot.at("", 0)
    assert empty.find("Anything") == 0 and empty.score("Anything", 8) == 0
