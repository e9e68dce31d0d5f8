"""Steering the next continuation: what happens next, suggested directions, and its length.

Render-only: the window says whether the model takes guidance and what the model suggested;
the panel reports the writer's choices as signals. A chosen direction goes into the guidance
field (it is the writer's to edit), and the chips stay until the next suggestion.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.length import Length

_THINKING = "The model is thinking of directions…"
_CHIP_STYLE = (
    "QLabel#directionChip { border: 1px solid palette(mid); border-radius: 9px; "
    "padding: 4px 8px; background: palette(alternate-base); }"
    "QLabel#directionChip:hover, QLabel#directionChip:focus { border-color: palette(highlight); }"
)


class DirectionChip(QLabel):
    """One suggested direction: a wrapped sentence that can be clicked (or Enter/Space)."""

    clicked = Signal()

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("directionChip")
        self.setWordWrap(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Use as guidance")
        self.setAccessibleName(f"Direction: {text}")
        self.setStyleSheet(_CHIP_STYLE)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.clicked.emit()
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)


class SteeringPanel(QWidget):
    suggestRequested = Signal()
    lengthChosen = Signal(object)  # Length

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[DirectionChip] = []
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.guidance_edit = QLineEdit(self)
        self.guidance_edit.setObjectName("guidanceEdit")
        self.guidance_edit.setPlaceholderText("What happens next? (optional)")
        self.guidance_edit.setClearButtonEnabled(True)

        self.suggest_button = QPushButton("Suggest directions", self)
        self.suggest_button.setObjectName("suggestButton")
        self.suggest_button.setToolTip("Ask the model for three directions the story could take")
        self.suggest_button.clicked.connect(self.suggestRequested)

        self.length_box = QComboBox(self)
        self.length_box.setObjectName("lengthBox")
        self.length_box.setToolTip("How long the next continuation may be")
        for length in Length:
            self.length_box.addItem(length.label, length.value)
        self.length_box.activated.connect(lambda _: self.lengthChosen.emit(self.length))

        self.status = QLabel(self)
        self.status.setObjectName("directionsStatus")
        self.status.setWordWrap(True)
        self.status.hide()

        self.chip_column = QVBoxLayout()
        self.chip_column.setContentsMargins(0, 0, 0, 0)
        self.chip_column.setSpacing(4)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Length:", self))
        row.addWidget(self.length_box, 1)
        row.addWidget(self.suggest_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.guidance_edit)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addLayout(self.chip_column)

    # -- what the window tells it ---------------------------------------------------------------

    @property
    def length(self) -> Length:
        return Length(self.length_box.currentData())

    def set_length(self, length: Length) -> None:
        self.length_box.setCurrentIndex(self.length_box.findData(length.value))

    def set_guided(self, guided: bool, model: str) -> None:
        """A model trained without guidance cannot take it: say so rather than ignore it."""
        self.guidance_edit.setEnabled(guided)
        self.suggest_button.setEnabled(guided)
        why = (
            ""
            if guided
            else f"{model} was trained without guidance. Choose a guided model "
            "(molbal/cra-v1-guided-7b) or a chat model to steer the story."
        )
        self.guidance_edit.setToolTip(why or "One sentence: what should happen next")
        self.guidance_edit.setPlaceholderText(
            "What happens next? (optional)" if guided else "This model takes no guidance"
        )
        for chip in self.chips:
            chip.setEnabled(guided)

    def show_busy(self, busy: bool) -> None:
        self.suggest_button.setEnabled(not busy and self.guidance_edit.isEnabled())
        self.suggest_button.setText("Asking…" if busy else "Suggest directions")
        if busy:
            self._show_status(_THINKING)
        elif self.status.text() == _THINKING:
            self.status.hide()

    def show_directions(self, directions: list[str]) -> None:
        self._clear_chips()
        self.status.hide()
        for direction in directions:
            chip = DirectionChip(direction, self)
            chip.clicked.connect(lambda text=direction: self._choose(text))
            self.chip_column.addWidget(chip)
            self.chips.append(chip)

    def show_problem(self, message: str) -> None:
        self._clear_chips()
        self._show_status(message)

    # -- helpers --------------------------------------------------------------------------------

    def _choose(self, direction: str) -> None:
        self.guidance_edit.setText(direction)
        self.guidance_edit.setCursorPosition(0)  # show how it begins

    def _show_status(self, message: str) -> None:
        self.status.setText(message)
        self.status.show()

    def _clear_chips(self) -> None:
        for chip in self.chips:
            self.chip_column.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
