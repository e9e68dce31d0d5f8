"""The takes of the story being written: which spot a continuation belongs to, which take is
current, and the takes file beside the manuscript.

Spots are followed through the writer's edits by QTextCursors, which Qt moves with every insert
and removal (undo and redo included). On saving, each spot's anchor is taken afresh from where
its cursor is; on loading, each spot is found again by its anchor (`core.takes`). A spot whose
place is not found keeps its takes in the file, it is just not shown. Anchors are taken from the
writer's text, as it is saved: without a pending continuation, in Python indices, not Qt's UTF-16
positions (`gui.editor_text.WriterText` converts).

While a continuation streams it is not a take yet: `begin()` notes where and how it was asked,
`finish()` keeps it once it ends with some prose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QTextCursor

from storyloom.core.backend import LENGTH_REACHED, ContinuationRequest
from storyloom.core.session import Continuation
from storyloom.core.takes import Spot, Take, TakeStore, load_takes, save_takes, spot_position
from storyloom.gui.editor_text import writer_text
from storyloom.gui.widgets.story_editor import StoryEditor


@dataclass(frozen=True, slots=True)
class _Asked:
    """A continuation being written: where, and how it was asked."""

    spot: Spot
    request: ContinuationRequest
    plan: str | None  # the writer's plan, for a rewrite from plan


class TakesController(QObject):
    changed = Signal()  # the current spot, its takes or the current take changed

    def __init__(self, editor: StoryEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._editor = editor
        self.store = TakeStore()
        self._places: list[tuple[Spot, QTextCursor]] = []
        self.spot: Spot | None = None  # whose takes are listed
        self.index: int | None = None  # the current take of that spot
        self._asked: _Asked | None = None

    # -- what is shown ------------------------------------------------------------------------

    @property
    def takes(self) -> list[Take]:
        return self.spot.takes if self.spot is not None else []

    @property
    def current(self) -> Take | None:
        takes = self.takes
        return takes[self.index] if self.index is not None and self.index < len(takes) else None

    @property
    def writing(self) -> bool:
        """A continuation is being written at the current spot (it is not a take yet)."""
        return self._asked is not None and self._asked.spot is self.spot

    # -- the writer's loop --------------------------------------------------------------------

    def begin(self, request: ContinuationRequest, position: int, plan: str | None = None) -> None:
        """A continuation was asked for at editor `position` (with `plan` when rewriting from
        one)."""
        spot = self._spot_for(position)
        self._asked = _Asked(spot, request, plan)
        self.spot, self.index = spot, None
        self.changed.emit()

    def finish(self, state: Continuation) -> Take | None:
        """The continuation ended: keep it as a take of its spot if any prose arrived."""
        asked, self._asked = self._asked, None
        if asked is None:
            return None
        take = None
        if state.answer.strip():
            request = asked.request
            outcome = state.phase.value
            if state.stats is not None and state.stats.done_reason == LENGTH_REACHED:
                outcome = LENGTH_REACHED
            take = Take(
                answer=state.answer,
                reasoning=asked.plan.strip() if asked.plan is not None else state.reasoning,
                model=request.settings.model,
                guidance=request.guidance,
                plan_edited=asked.plan is not None,
                length=request.length.value,
                profile=request.profile.name,
                options=request.settings.options(),
                outcome=outcome,
            )
            asked.spot.takes.append(take)
            if not any(spot is asked.spot for spot in self.store.spots):
                self.store.spots.append(asked.spot)
            self.spot, self.index = asked.spot, len(asked.spot.takes) - 1
        self.changed.emit()
        return take

    def cycle(self, step: int) -> Take | None:
        """The previous (-1) or next (+1) take of the current spot, round the ends."""
        if not self.takes:
            return None
        return self.select(((self.index if self.index is not None else 0) + step) % len(self.takes))

    def select(self, index: int) -> Take | None:
        if not 0 <= index < len(self.takes):
            return None
        self.index = index
        self.changed.emit()
        return self.current

    def mark_accepted(self) -> None:
        """The current take went into the story."""
        if self.spot is not None and (take := self.current) is not None:
            assert self.index is not None
            self.spot.takes[self.index] = replace(take, accepted=True)
            self.changed.emit()

    def follow(self, position: int) -> None:
        """Nothing pending: list the takes of the nearest spot at or before editor `position`."""
        placed = [
            (c.position(), s) for s, c in self._places if s.takes and c.position() <= position
        ]
        spot = max(placed, key=lambda item: item[0])[1] if placed else None
        if spot is self.spot:
            return
        self.spot = spot
        accepted = [i for i, take in enumerate(self.takes) if take.accepted]
        self.index = accepted[-1] if accepted else (len(self.takes) - 1 if self.takes else None)
        self.changed.emit()

    # -- the file beside the manuscript -------------------------------------------------------

    def save(self, manuscript: Path) -> str | None:
        """Save the takes beside `manuscript`; a note for the writer, or TakesFileError."""
        text = writer_text(self._editor)
        for spot, cursor in self._places:
            spot.move_to(text.text, text.index(cursor.position()))
        return save_takes(self.store, manuscript)

    def load(self, manuscript: Path) -> None:
        """The takes of `manuscript`, whose text the editor now holds; TakesFileError (the
        story then starts without takes)."""
        self.clear()
        self.store = load_takes(manuscript)
        text = writer_text(self._editor)
        for spot in self.store.spots:
            index = spot.find(text.text)
            if index is not None:
                self._place(spot, text.position(index))
        self.changed.emit()

    def clear(self) -> None:
        """A new story: no takes."""
        self.store = TakeStore()
        self._places = []
        self.spot, self.index, self._asked = None, None, None
        self.changed.emit()

    # -- helpers ------------------------------------------------------------------------------

    def _spot_for(self, position: int) -> Spot:
        text = writer_text(self._editor)
        index = text.index(position)
        here = spot_position(text.text, index)
        for spot, cursor in self._places:
            if spot_position(text.text, text.index(cursor.position())) == here:
                return spot
        # A saved spot whose place was not found on opening, if this is it after all.
        found = self.store.spot_at(text.text, index)
        if found is None or any(spot is found for spot, _ in self._places):
            found = Spot.at(text.text, index)
        self._place(found, text.position(here))
        return found

    def _place(self, spot: Spot, position: int) -> None:
        """Follow `spot` from editor `position` on."""
        cursor = QTextCursor(self._editor.document())
        cursor.setPosition(position)
        # A continuation inserted at the spot must stay after it.
        cursor.setKeepPositionOnInsert(True)
        self._places.append((spot, cursor))
