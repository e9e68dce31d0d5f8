"""The Reasoning panel: the model's plan as it streams, editable afterwards, and the takes.

Render-only: the window tells it which takes to list and which plan to show. The writer may edit
the plan of a pending take; "Rewrite from plan" then asks for new prose from the edited plan
(`rewriteRequested`). An edit is kept per take while the writer looks at other takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.length import Length
from storyloom.core.takes import Take

_PREVIEW_WORDS = 10
_EDITED = "Edited: “Rewrite from plan” writes new prose from it."
_FROM_EDIT = "This take was written from your edited plan."


class ReasoningPanel(QWidget):
    rewriteRequested = Signal(str)  # the plan to write from
    takeActivated = Signal(int)  # a row of the takes list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown: Take | None = None  # the take whose plan is in the view
        self._drafts: dict[str, str] = {}  # take id -> the writer's unsent edit of its plan
        self._rewrite_available = False
        self._setup_ui()

    def _setup_ui(self) -> None:
        self.notice = QLabel(self)
        self.notice.setObjectName("reasoningNotice")
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice.hide()

        self.plan_note = QLabel(self)
        self.plan_note.setObjectName("planNote")
        self.plan_note.setWordWrap(True)
        self.plan_note.hide()

        self.text = QPlainTextEdit(self)
        self.text.setObjectName("reasoningText")
        self.text.setReadOnly(True)
        self.text.setPlaceholderText(
            "Press Ctrl+Enter to continue the story. The model's thinking appears here."
        )
        self.text.textChanged.connect(self._plan_changed)

        self.rewrite_button = QPushButton("Rewrite from plan", self)
        self.rewrite_button.setObjectName("rewriteButton")
        self.rewrite_button.setToolTip("Keep this plan (edit it first if you like), new prose")
        self.rewrite_button.setEnabled(False)
        self.rewrite_button.clicked.connect(lambda: self.rewriteRequested.emit(self.plan()))

        self.takes_label = QLabel("Takes", self)
        self.takes_list = QListWidget(self)
        self.takes_list.setObjectName("takesList")
        self.takes_list.setWordWrap(True)
        self.takes_list.setToolTip("Every continuation written here. Alt+Left / Alt+Right")
        self.takes_list.itemClicked.connect(
            lambda item: self.takeActivated.emit(self.takes_list.row(item))
        )

        plan = QWidget(self)
        plan_column = QVBoxLayout(plan)
        plan_column.setContentsMargins(0, 0, 0, 0)
        plan_column.addWidget(self.plan_note)
        plan_column.addWidget(self.text)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.rewrite_button)
        plan_column.addLayout(buttons)

        takes = QWidget(self)
        takes_column = QVBoxLayout(takes)
        takes_column.setContentsMargins(0, 0, 0, 0)
        takes_column.addWidget(self.takes_label)
        takes_column.addWidget(self.takes_list)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(plan)
        splitter.addWidget(takes)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice)
        layout.addWidget(splitter)

    # -- the plan -------------------------------------------------------------------------------

    def begin_take(self, plan: str = "") -> None:
        """A continuation starts: its plan streams into a read-only view (or, for a rewrite,
        the view shows the plan it is written from)."""
        self.clear_notice()
        self._shown = None
        self._set_plan(plan, editable=False)

    def append(self, text: str) -> None:
        cursor = self.text.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        self.text.ensureCursorVisible()

    def show_plan(self, take: Take | None, *, editable: bool) -> None:
        """Show `take`'s plan (or the writer's unsent edit of it); editable while it is pending."""
        self._shown = take
        plan = "" if take is None else self._drafts.get(take.id, take.reasoning)
        self._set_plan(plan, editable=editable and take is not None)

    def plan(self) -> str:
        return self.text.toPlainText()

    @property
    def plan_is_edited(self) -> bool:
        return self._shown is not None and self.plan().strip() != self._shown.reasoning.strip()

    def set_rewrite_available(self, available: bool, why: str = "") -> None:
        """Whether "Rewrite from plan" can run now (a take is pending, the model allows it)."""
        self._rewrite_available = available
        self.rewrite_button.setToolTip(
            why or "Keep this plan (edit it first if you like), new prose"
        )
        self._update_plan_state()

    def _set_plan(self, plan: str, *, editable: bool) -> None:
        self.text.blockSignals(True)
        self.text.setPlainText(plan)
        self.text.blockSignals(False)
        self.text.setReadOnly(not editable)
        self._update_plan_state()

    def _plan_changed(self) -> None:
        if self._shown is not None and not self.text.isReadOnly():
            if self.plan_is_edited:
                self._drafts[self._shown.id] = self.plan()
            else:
                self._drafts.pop(self._shown.id, None)
        self._update_plan_state()

    def _update_plan_state(self) -> None:
        self.rewrite_button.setEnabled(self._rewrite_available and bool(self.plan().strip()))
        note = ""
        if self.plan_is_edited:
            note = _EDITED
        elif self._shown is not None and self._shown.plan_edited:
            note = _FROM_EDIT
        self.plan_note.setText(note)
        self.plan_note.setVisible(bool(note))

    # -- the takes ------------------------------------------------------------------------------

    def show_takes(self, takes: Sequence[Take], current: int | None, *, writing: bool) -> None:
        """List the takes of one spot; `writing`: one more is streaming (it is the current)."""
        self.takes_list.clear()
        for number, take in enumerate(takes, 1):
            item = QListWidgetItem(_label(number, take))
            item.setToolTip(_details(take))
            item.setData(Qt.ItemDataRole.UserRole, take.reasoning)
            self.takes_list.addItem(item)
        if writing:
            self.takes_list.addItem(f"Take {len(takes) + 1} · writing…")
            current = len(takes)
        self.takes_label.setText(f"Takes here ({len(takes)})" if takes else "Takes")
        if current is not None:
            self.takes_list.setCurrentRow(current)

    def reasoning_of(self, row: int) -> str:
        item = self.takes_list.item(row)
        return (item.data(Qt.ItemDataRole.UserRole) or "") if item else ""

    # -- notices --------------------------------------------------------------------------------

    def show_notice(self, message: str, *, error: bool = False) -> None:
        self.notice.setText(message)
        self.notice.setProperty("error", error)
        self.notice.setStyleSheet(
            "QLabel { border-radius: 4px; padding: 6px; "
            + (
                "background: #f8d7da; color: #58151c; }"
                if error
                else "background: #fff3cd; color: #664d03; }"
            )
        )
        self.notice.show()

    def clear_notice(self) -> None:
        self.notice.clear()
        self.notice.hide()


def _label(number: int, take: Take) -> str:
    model = take.model.rsplit("/", 1)[-1].removesuffix(":latest")
    flags = [model]
    if take.plan_edited:
        flags.append("edited plan")
    if take.guidance:
        flags.append("guided")
    if take.accepted:
        flags.append("accepted")
    words = take.answer.split()
    preview = " ".join(words[:_PREVIEW_WORDS]) + ("…" if len(words) > _PREVIEW_WORDS else "")
    return f"Take {number} · {' · '.join(flags)}\n“{preview}”"


def _details(take: Take) -> str:
    known = {length.value: length.label for length in Length}
    lines = [f"Model: {take.model}", f"Length: {known.get(take.length, take.length)}"]
    if take.guidance:
        lines.append(f"Guidance: {take.guidance}")
    settings = ", ".join(f"{name} {value}" for name, value in take.options.items())
    if settings:
        lines.append(f"Settings: {settings}")
    lines.append(f"Written {take.created} ({take.outcome})")
    return "\n".join(lines)
