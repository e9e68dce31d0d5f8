"""Takes: every continuation written at one spot of a story, kept with how it was made.

A *spot* is a place in the story where the writer asked for a continuation; each continuation
asked there (a retry, a rewrite from an edited plan, another model) is a *take* of that spot,
kept with its reasoning, guidance, model and settings, accepted or not.

Spots are anchored by text, not only by an offset: a spot stores the end of the story before it
(up to ANCHOR_CHARS characters, the model's own view of the place), so it is found again after
the text before it was edited. Within a session the GUI tracks positions as the writer edits;
on saving, each anchor is taken afresh from where its spot is now; on opening, each spot is
looked for by its anchor (an edit inside its last MIN_MATCH characters loses the spot's place
but never its takes: they stay in the file).

On disk: `<manuscript>.storyloom/takes.json` beside the manuscript, versioned, written
atomically. A file that cannot be read is set aside (never silently overwritten) and one written
by a newer Storyloom is left alone.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storyloom.core.atomic_save import SaveError, atomic_write
from storyloom.core.paths import sidecar_dir

TAKES_FILE = "takes.json"
FORMAT = "storyloom-takes"
VERSION = 1
ANCHOR_CHARS = 200  # the end of the story before a spot, kept to find the spot again
MIN_MATCH = 48  # of it, what must still be there (all of it, if the anchor is shorter)


class TakesFileError(Exception):
    """A takes file cannot be read or written; the message says which and why, for the writer."""


class NewerTakesFileError(TakesFileError):
    """The takes file was written by a newer Storyloom: this one must leave it alone."""


@dataclass(frozen=True, slots=True)
class Take:
    answer: str  # the prose
    reasoning: str  # the plan it was written from (the writer's edit if plan_edited)
    model: str
    guidance: str | None = None
    plan_edited: bool = False  # "Rewrite from plan": the model wrote only the prose
    length: str = "unlimited"  # a core.length.Length value
    profile: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # what Ollama was sent
    outcome: str = "done"  # done, stopped, failed or length_reached
    accepted: bool = False
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(slots=True)
class Spot:
    anchor: str  # the story's last characters before the spot, trailing whitespace left out
    from_start: bool  # the anchor is everything before the spot
    offset: int  # where it was last seen: the tie-breaker between spots with the same anchor
    takes: list[Take] = field(default_factory=list)

    @classmethod
    def at(cls, text: str, position: int) -> Spot:
        spot = cls("", True, 0)
        spot.move_to(text, position)
        return spot

    def move_to(self, text: str, position: int) -> None:
        """Re-anchor the spot at `position` of `text` (its takes stay)."""
        end = spot_position(text, position)
        start = max(0, end - ANCHOR_CHARS)
        self.anchor, self.from_start, self.offset = text[start:end], start == 0, end

    def score(self, text: str, position: int) -> int:
        """How well `position` of `text` fits the anchor (0: it does not)."""
        end = spot_position(text, position)
        common = _common_suffix(text, end, self.anchor)
        if len(self.anchor) < MIN_MATCH:  # near the start: all of it, and nothing before
            return common + 1 if common == len(self.anchor) == end and self.from_start else 0
        return common if common >= MIN_MATCH else 0

    def find(self, text: str) -> int | None:
        """Where the spot is in `text`: the best fit, the nearest to `offset` among equals."""
        if len(self.anchor) < MIN_MATCH:  # only at the very start of the story
            return len(self.anchor) if self.score(text, len(self.anchor)) else None
        needle = self.anchor[-MIN_MATCH:]
        best: tuple[int, int] | None = None  # (score, -distance)
        found = None
        start = text.find(needle)
        while start >= 0:
            end = start + len(needle)
            score = self.score(text, end)
            rank = (score, -abs(end - self.offset))
            if score and (best is None or rank > best):
                best, found = rank, end
            start = text.find(needle, start + 1)
        return found


class TakeStore:
    """The spots of one story and their takes, oldest first."""

    def __init__(self, spots: list[Spot] | None = None) -> None:
        self.spots: list[Spot] = spots or []

    def __len__(self) -> int:
        return sum(len(spot.takes) for spot in self.spots)

    def spot_at(self, text: str, position: int) -> Spot | None:
        """The spot a continuation from `position` of `text` belongs to, if one exists."""
        scored = [(spot.score(text, position), spot) for spot in self.spots]
        scored = [(score, -abs(spot.offset - position), spot) for score, spot in scored if score]
        return max(scored, key=lambda item: item[:2])[2] if scored else None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "spots": [
                {
                    "anchor": spot.anchor,
                    "from_start": spot.from_start,
                    "offset": spot.offset,
                    "takes": [asdict(take) for take in spot.takes],
                }
                for spot in self.spots
                if spot.takes
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> TakeStore:
        """Raises TakesFileError for anything that is not a takes file this version reads."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TakesFileError("it is not a Storyloom takes file")
        version = data.get("version")
        if not isinstance(version, int) or version < 1:
            raise TakesFileError(f"its version {version!r} is not valid")
        if version > VERSION:
            raise NewerTakesFileError(
                f"it was written by a newer Storyloom (takes format {version}; this one reads "
                f"format {VERSION}). Update Storyloom to see these takes"
            )
        spots = _field(data, "spots", list, "the file")
        return cls([_spot(raw, f"spots[{i}]") for i, raw in enumerate(spots)])


def takes_path(manuscript: Path) -> Path:
    return sidecar_dir(manuscript) / TAKES_FILE


def load_takes(manuscript: Path) -> TakeStore:
    """The takes saved beside `manuscript` (none yet: an empty store); TakesFileError."""
    path = takes_path(manuscript)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return TakeStore()
    except OSError as exc:
        raise TakesFileError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        return TakeStore.from_json(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TakesFileError(f"{path} cannot be read: it is damaged ({exc})") from None
    except TakesFileError as exc:
        raise type(exc)(f"{path} cannot be read: {exc}.") from None


def save_takes(store: TakeStore, manuscript: Path) -> str | None:
    """Write the takes beside `manuscript`, atomically.

    Returns a note for the writer when an unreadable takes file had to be set aside first (it
    is renamed, never overwritten). Raises TakesFileError when a newer Storyloom's file is there
    (it is left alone) or the file cannot be written.
    """
    path = takes_path(manuscript)
    if not len(store) and not path.exists():
        return None  # nothing to keep: no folder beside the manuscript
    note = None
    try:
        load_takes(manuscript)
    except NewerTakesFileError as exc:
        raise NewerTakesFileError(f"{exc} The takes of this session were not saved.") from None
    except TakesFileError as exc:
        try:
            kept = _set_aside(path)
        except OSError as error:
            raise TakesFileError(f"{exc} It could not be set aside either: {error}") from None
        note = f"{path.name} could not be read, so it was kept as {kept.name}: {exc}"
    data = json.dumps(store.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data + b"\n")
    except (OSError, SaveError) as exc:
        raise TakesFileError(f"The takes could not be saved to {path}: {exc}") from None
    return note


def _set_aside(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.unreadable-{stamp}-{number}")
    path.rename(target)
    return target


def _spot(raw: Any, where: str) -> Spot:
    if not isinstance(raw, dict):
        raise TakesFileError(f"{where} is not an object")
    takes = _field(raw, "takes", list, where)
    return Spot(
        anchor=_field(raw, "anchor", str, where),
        from_start=_field(raw, "from_start", bool, where),
        offset=_field(raw, "offset", int, where),
        takes=[_take(take, f"{where}.takes[{i}]") for i, take in enumerate(takes)],
    )


_TAKE_TYPES: dict[str, type | tuple[type, ...]] = {
    "answer": str,
    "reasoning": str,
    "model": str,
    "guidance": (str, type(None)),
    "plan_edited": bool,
    "length": str,
    "profile": str,
    "options": dict,
    "outcome": str,
    "accepted": bool,
    "created": str,
    "id": str,
}


def _take(raw: Any, where: str) -> Take:
    if not isinstance(raw, dict):
        raise TakesFileError(f"{where} is not an object")
    values = {}
    for f in fields(Take):
        if f.name in raw:
            values[f.name] = _field(raw, f.name, _TAKE_TYPES[f.name], where)
    for required in ("answer", "reasoning", "model"):
        if required not in values:
            raise TakesFileError(f"{where} has no {required!r}")
    return Take(**values)


def _field(raw: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = raw.get(name)
    # bool is an int in Python; an offset of `true` is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TakesFileError(f"{where}: {name!r} is missing or of the wrong kind")
    return value


def spot_position(text: str, position: int) -> int:
    """Where a continuation from `position` is anchored: before any whitespace there (the
    prompt drops it, so "dusk." and "dusk.\n\n" are the same place)."""
    position = min(max(position, 0), len(text))
    while position > 0 and text[position - 1].isspace():
        position -= 1
    return position


def _common_suffix(text: str, end: int, anchor: str) -> int:
    """How many characters before `end` in `text` equal the end of `anchor`."""
    if text.endswith(anchor, 0, end):
        return len(anchor)
    n = 0
    while n < len(anchor) and n < end and text[end - 1 - n] == anchor[-1 - n]:
        n += 1
    return n
