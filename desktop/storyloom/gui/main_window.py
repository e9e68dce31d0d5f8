"""The main window: the story in the centre, the Reasoning panel on the right.

The window wires the editor's requests (continue, accept, reject, retry, stop) to the
continuation controller and routes the controller's signals to the widgets. It holds no
streaming logic itself.
"""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QMainWindow, QWidget

from storyloom import __version__
from storyloom.core.backend import (
    ContextPrepared,
    ContinuationRequest,
    Failed,
    GenerationSettings,
    GenerationStats,
    OllamaBackend,
)
from storyloom.core.session import Phase
from storyloom.gui.controllers.continuation import ContinuationController
from storyloom.gui.widgets.reasoning_panel import ReasoningPanel
from storyloom.gui.widgets.story_editor import StoryEditor
from storyloom.prompting import Malformation

DEFAULT_MODEL = "molbal/cra-v1-7b"
KNOWN_MODELS = ("molbal/cra-v1-7b", "molbal/cra-v1-32b", "molbal/cra-v1-guided-7b")

_PHASE_LABELS = {
    Phase.IDLE: "Idle",
    Phase.THINKING: "Thinking…",
    Phase.WRITING: "Writing…",
    Phase.DONE: "Done",
    Phase.STOPPED: "Stopped",
    Phase.FAILED: "Failed",
}


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, backend: OllamaBackend | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend or OllamaBackend()
        # num_ctx, num_predict and sampling for the next continuation (the model comes from
        # the toolbar). Defaults from core.backend until the settings dialog owns them.
        self.generation = GenerationSettings(model=DEFAULT_MODEL)
        self.controller = ContinuationController(self.backend, self)
        self.setWindowTitle("Storyloom")
        # Deleted by Qt on the GUI thread when closed, not later by Python's collector.
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1200, 780)
        self._setup_ui()
        self._connect()
        self._show_phase(Phase.IDLE)

    # -- layout -----------------------------------------------------------------------------

    def _setup_ui(self) -> None:
        self.editor = StoryEditor(self)
        self.editor.setObjectName("storyEditor")
        self.setCentralWidget(self.editor)

        self.reasoning = ReasoningPanel(self)
        self.reasoning_dock = QDockWidget("Reasoning", self)
        self.reasoning_dock.setObjectName("reasoningDock")
        self.reasoning_dock.setWidget(self.reasoning)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.reasoning_dock)
        self.resizeDocks([self.reasoning_dock], [380], Qt.Orientation.Horizontal)

        self.toolbar = self.addToolBar("Story")
        self.toolbar.setObjectName("storyToolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.continue_action = self._action("Continue", "Ctrl+Return", self.continue_story)
        self.accept_action = self._action("Accept", "Tab", self.accept)
        self.reject_action = self._action("Reject", "Esc", self.reject)
        self.retry_action = self._action("Retry", "Ctrl+R", self.retry)
        self.stop_action = self._action("Stop", "Esc", self.stop)
        self.toolbar.addSeparator()
        self.model_box = QComboBox(self)
        self.model_box.setObjectName("modelBox")
        self.model_box.setEditable(True)
        self.model_box.addItems(KNOWN_MODELS)
        self.model_box.setCurrentText(os.environ.get("STORYLOOM_MODEL", DEFAULT_MODEL))
        self.model_box.setMinimumContentsLength(22)
        self.toolbar.addWidget(QLabel(" Model: ", self))
        self.toolbar.addWidget(self.model_box)

        status = self.statusBar()
        self.phase_label = QLabel(self)
        self.speed_label = QLabel(self)
        self.context_label = QLabel(self)
        for label in (self.phase_label, self.speed_label, self.context_label):
            status.addPermanentWidget(label)
        status.showMessage(f"Storyloom {__version__}", 5000)

    def _action(self, text: str, shortcut: str, slot) -> QAction:
        action = QAction(text, self)
        # The editor handles these keys itself (they depend on whether text is pending), so
        # the shortcut is shown as a hint only and never steals the key from the editor.
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.setToolTip(f"{text} ({QKeySequence(shortcut).toString()})")
        action.triggered.connect(slot)
        self.toolbar.addAction(action)
        return action

    def _connect(self) -> None:
        self.editor.continueRequested.connect(self.continue_story)
        self.editor.acceptRequested.connect(self.accept)
        self.editor.rejectRequested.connect(self.escape)
        self.editor.retryRequested.connect(self.retry)
        self.editor.pendingChanged.connect(lambda _: self._update_actions())
        c = self.controller
        c.reasoningDelta.connect(self.reasoning.append)
        c.answerDelta.connect(self.editor.append_pending)
        c.phaseChanged.connect(self._show_phase)
        c.contextPrepared.connect(self._show_context_estimate)
        c.finished.connect(self._show_stats)
        c.failed.connect(self._show_failure)

    # -- the writer's loop ------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.model_box.currentText().strip() or DEFAULT_MODEL

    def continue_story(self) -> None:
        if self.editor.has_pending():
            self.accept()
            return
        cursor = self.editor.textCursor()
        story = self.editor.document().toPlainText()[: cursor.selectionEnd()]
        self.editor.begin_pending()
        self.reasoning.begin("Continuation")
        settings = replace(self.generation, model=self.model)
        self.controller.start(ContinuationRequest(story, settings))
        self.model_box.setToolTip(self.model)

    def accept(self) -> None:
        if not self.editor.has_pending():
            return
        self.controller.stop()
        text = self.editor.accept_pending()
        self.reasoning.set_answer_preview(text)
        self._update_actions()

    def reject(self) -> None:
        self.controller.stop()
        if self.editor.has_pending():
            self.editor.reject_pending()
        self._update_actions()

    def stop(self) -> None:
        """Stop streaming; the pending text stays for the writer to judge."""
        self.controller.stop()

    def escape(self) -> None:
        """Esc stops a stream first; pressed again (or after the end) it rejects."""
        if self.controller.phase.is_active:
            self.stop()
        else:
            self.reject()

    def retry(self) -> None:
        if not self.editor.has_pending() and not self.controller.phase.is_active:
            return
        self.reject()
        self.continue_story()

    # -- feedback ---------------------------------------------------------------------------

    def _show_phase(self, phase: Phase) -> None:
        self.phase_label.setText(f"{self.model} · {_PHASE_LABELS[phase]}")
        self.phase_label.setProperty("phase", phase.value)
        nothing_arrived = self.editor.has_pending() and not self.editor.pending_text().strip()
        if phase in (Phase.STOPPED, Phase.FAILED) and nothing_arrived:
            self.editor.reject_pending()  # there is nothing for the writer to judge
        self._update_actions()

    def _show_context_estimate(self, prepared: ContextPrepared) -> None:
        num_ctx = self.controller.request.settings.num_ctx if self.controller.request else 0
        cut = "" if prepared.cut.is_whole_story else " (story start left out)"
        self.context_label.setText(
            f"context ≈{prepared.estimated_prompt_tokens:,} / {num_ctx:,} tokens{cut}"
        )

    def _show_stats(self, stats: GenerationStats) -> None:
        self.speed_label.setText(f"{stats.tokens_per_second:.1f} tokens/s")
        self.context_label.setText(f"context {stats.prompt_tokens:,} / {stats.num_ctx:,} tokens")
        self.reasoning.set_answer_preview(self.editor.pending_text())
        if stats.warning:
            self.reasoning.show_notice(stats.warning)
        elif Malformation.NO_TAGS in stats.malformations:
            self.reasoning.show_notice(
                "The model answered without its <reasoning>/<answer> tags; "
                "its whole reply is shown as prose."
            )

    def _show_failure(self, failure: Failed) -> None:
        self.reasoning.show_notice(failure.message, error=True)
        self.statusBar().showMessage(failure.message, 10000)

    def _update_actions(self) -> None:
        pending = self.editor.has_pending()
        running = self.controller.phase.is_active
        self.accept_action.setEnabled(pending)
        self.reject_action.setEnabled(pending)
        self.retry_action.setEnabled(pending or running)
        self.stop_action.setEnabled(running)
        self.continue_action.setEnabled(not running)

    async def shutdown(self) -> None:
        """Stop any stream (closing its connection tells Ollama to stop) and close the client."""
        self.controller.stop()
        await self.controller.wait()
        await self.backend.aclose()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.controller.stop()
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()
