"""The main window: the story in the centre, the Reasoning panel on the right.

The window wires the editor's requests (continue, accept, reject, retry, stop) to the
continuation controller, the banners and dialogs to the connection and model controllers, and
routes the controllers' signals to the widgets. It holds no streaming logic itself.

From a fresh install it guides the writer without a terminal: `start_up()` checks the server
(the connection banner offers to start or install Ollama), lists the models (the model banner
offers to pull the Storyloom model), and a continuation asked of a missing model offers the
pull and continues once it is done.

The manuscript itself (files, saving, the recovery journal, locks) belongs to
`ManuscriptController`; the window gives it a File menu, a title, a word count and the close and
focus events. `documentOpened`, `documentSaved` and `documentPathChanged` are the place to hook
anything else that keeps data per manuscript.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from storyloom import __version__
from storyloom.core.backend import (
    ContextPrepared,
    ContinuationRequest,
    Failed,
    FailureKind,
    GenerationSettings,
    GenerationStats,
    OllamaBackend,
)
from storyloom.core.connection import ServerStatus, install_url, start_command
from storyloom.core.context_window import ContextUsage
from storyloom.core.file_settings import FileSettings
from storyloom.core.models import STORYLOOM_MODELS, ModelInfo, ModelManager, model_key
from storyloom.core.options import ModelOptions
from storyloom.core.profiles import Profile, ProfileTable, RequestStyle, load_profiles
from storyloom.core.session import Phase
from storyloom.core.settings import AppSettings
from storyloom.core.takes import Take, TakesFileError
from storyloom.gui.controllers.connection import ConnectionController
from storyloom.gui.controllers.context_meter import ContextMeterController
from storyloom.gui.controllers.continuation import ContinuationController
from storyloom.gui.controllers.directions import DirectionsController
from storyloom.gui.controllers.manuscript import ManuscriptController
from storyloom.gui.controllers.models import ModelController
from storyloom.gui.controllers.takes import TakesController
from storyloom.gui.controllers.word_count import WordCountController
from storyloom.gui.dialogs.file_prompts import FilePrompts
from storyloom.gui.dialogs.model_manager import ModelManagerDialog
from storyloom.gui.dialogs.settings_dialog import SettingsDialog
from storyloom.gui.editor_text import text_before
from storyloom.gui.file_menu import build_file_menu
from storyloom.gui.settings_store import open_settings
from storyloom.gui.theme import apply_theme
from storyloom.gui.widgets.banners import ConnectionPanel, ModelOfferPanel
from storyloom.gui.widgets.context_meter import ContextMeter
from storyloom.gui.widgets.file_notice import FileNoticeBanner
from storyloom.gui.widgets.reasoning_panel import ReasoningPanel
from storyloom.gui.widgets.steering_panel import SteeringPanel
from storyloom.gui.widgets.story_editor import StoryEditor
from storyloom.prompting import Malformation, render_plan_prefill

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
    documentOpened = Signal(object)  # Path: a manuscript was read from this path
    documentSaved = Signal(object)  # Path: the manuscript was written to this path
    documentPathChanged = Signal(object)  # Path | None: where the manuscript lives now

    def __init__(
        self,
        backend: OllamaBackend | None = None,
        parent: QWidget | None = None,
        *,
        settings: AppSettings | None = None,
        profiles: ProfileTable | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or open_settings()
        self.profiles = profiles or load_profiles()
        # The configured host wins over OLLAMA_HOST; the client reads OLLAMA_HOST when None.
        self.backend = backend or OllamaBackend(host=self.settings.host or None)
        self._manager = ModelManager(self.backend.client)
        self.controller = ContinuationController(self.backend, self, settle=self._settle)
        self.connection = ConnectionController(lambda: self.backend.client._client, self)
        self.models = ModelController(lambda: self._manager, self)
        self.meter = ContextMeterController(self._measure_context, self)
        self.directions = DirectionsController(lambda: self.backend, self, settle=self._settle)
        self._warmed: set[str] = set()  # models preloaded this session (model_key)
        self._continue_after_pull: str | None = None  # a continuation waits for this pull
        self._closing: set[asyncio.Task[None]] = set()  # old clients being closed
        self._host_setting = self.settings.host
        self.model_manager: ModelManagerDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.setWindowTitle("Storyloom")
        # Deleted by Qt on the GUI thread when closed, not later by Python's collector.
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1200, 780)
        self._setup_ui()
        self.takes = TakesController(self.editor, self)
        self._connect()
        self._setup_manuscript()
        self._apply_editor_settings()
        self._show_phase(Phase.IDLE)
        self._model_text_changed(self.model)
        if self.profiles.problem:
            self.statusBar().showMessage(self.profiles.problem, 15000)

    # -- layout -----------------------------------------------------------------------------

    def _setup_ui(self) -> None:
        self.editor = StoryEditor(self)
        self.editor.setObjectName("storyEditor")
        self.setCentralWidget(self.editor)

        # The side panel: what happens next (guidance, directions, length), then the plan and
        # the takes of the current spot.
        self.steering = SteeringPanel(self)
        self.steering.set_length(self.settings.length)
        self.guidance_edit = self.steering.guidance_edit
        self.reasoning = ReasoningPanel(self)
        side = QWidget(self)
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(0, 0, 0, 0)
        side_column.addWidget(self.steering)
        side_column.addWidget(self.reasoning, 1)
        self.reasoning_dock = QDockWidget("Reasoning", self)
        self.reasoning_dock.setObjectName("reasoningDock")
        self.reasoning_dock.setWidget(side)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.reasoning_dock)
        self.resizeDocks([self.reasoning_dock], [380], Qt.Orientation.Horizontal)

        # The banners sit above the story in a dock without a title bar, so the editor stays
        # the central widget and nothing moves when a banner comes and goes.
        self.connection_panel = ConnectionPanel(self)
        self.model_offer = ModelOfferPanel(self)
        banners = QWidget(self)
        column = QVBoxLayout(banners)
        column.setContentsMargins(6, 6, 6, 0)
        self.file_notice = FileNoticeBanner(self)
        column.addWidget(self.connection_panel)
        column.addWidget(self.model_offer)
        column.addWidget(self.file_notice)
        self.banner_dock = QDockWidget(self)
        self.banner_dock.setObjectName("bannerDock")
        self.banner_dock.setTitleBarWidget(QWidget(self.banner_dock))
        self.banner_dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.banner_dock.setWidget(banners)
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.banner_dock)

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
        self.model_box.addItems([name for name, _ in STORYLOOM_MODELS])
        self.model_box.setCurrentText(os.environ.get("STORYLOOM_MODEL") or self.settings.model)
        self.model_box.setMinimumContentsLength(22)
        self.toolbar.addWidget(QLabel(" Model: ", self))
        self.toolbar.addWidget(self.model_box)
        self.models_action = self._action("Models…", "Ctrl+M", self.open_model_manager)
        self.settings_action = self._action("Settings…", "Ctrl+,", self.open_settings)

        status = self.statusBar()
        self.word_count_label = QLabel(self)
        self.word_count_label.setObjectName("wordCount")
        self.phase_label = QLabel(self)
        self.speed_label = QLabel(self)
        self.context_label = QLabel(self)
        self.context_meter = ContextMeter(self)
        # All permanent: a temporary message (errors, notices) takes the free space on the left
        # instead of being painted over the word count.
        permanent = (self.word_count_label, self.phase_label, self.speed_label, self.context_label)
        for widget in (*permanent, self.context_meter):
            status.addPermanentWidget(widget)
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
        self.editor.pendingChanged.connect(self._pending_changed)
        self.editor.pendingChanged.connect(lambda _: self._update_actions())
        self.editor.pendingChanged.connect(lambda _: self._show_takes())
        self.editor.previousTakeRequested.connect(lambda: self.cycle_take(-1))
        self.editor.nextTakeRequested.connect(lambda: self.cycle_take(+1))
        self.editor.cursorPositionChanged.connect(self._follow_cursor)
        self.takes.changed.connect(self._show_takes)
        self.reasoning.takeActivated.connect(self.show_take)
        self.reasoning.rewriteRequested.connect(self.rewrite_from_plan)
        self.steering.suggestRequested.connect(self.suggest_directions)
        self.steering.lengthChosen.connect(self.settings.set_length)
        self.directions.suggested.connect(self.steering.show_directions)
        self.directions.failed.connect(self.steering.show_problem)
        self.directions.busyChanged.connect(self.steering.show_busy)
        self.editor.textChanged.connect(self.meter.schedule)
        self.editor.cursorPositionChanged.connect(self.meter.schedule)
        self.guidance_edit.textChanged.connect(self.meter.schedule)
        self.model_box.currentTextChanged.connect(self._model_text_changed)
        self.model_box.activated.connect(lambda _: self._check_current_model())
        self.model_box.lineEdit().editingFinished.connect(self._check_current_model)
        self.meter.measured.connect(self.context_meter.show_usage)
        c = self.controller
        c.reasoningDelta.connect(self.reasoning.append)
        c.answerDelta.connect(self.editor.append_pending)
        c.phaseChanged.connect(self._show_phase)
        c.phaseChanged.connect(self._keep_take)
        c.contextPrepared.connect(self._show_context_estimate)
        c.finished.connect(self._show_stats)
        c.failed.connect(self._show_failure)
        self.connection.statusChanged.connect(self._show_server_status)
        self.connection.startFailed.connect(self.connection_panel.show_problem)
        self.connection_panel.retryRequested.connect(self.connection.check)
        self.connection_panel.startRequested.connect(self._start_ollama)
        m = self.models
        m.modelsChanged.connect(self._show_models)
        m.pullStarted.connect(self._pull_started)
        m.pullProgress.connect(self.model_offer.show_progress)
        m.pullFinished.connect(self._pull_finished)
        m.pullFailed.connect(self._pull_failed)
        m.pullCancelled.connect(lambda name: self._check_current_model())
        m.actionFailed.connect(lambda message: self.statusBar().showMessage(message, 10000))
        self.model_offer.pullRequested.connect(self.models.pull)
        self.model_offer.cancelRequested.connect(self.models.cancel_pull)
        self.model_offer.managerRequested.connect(self.open_model_manager)

    def _setup_manuscript(self) -> None:
        files = FileSettings(self.settings.store)
        self.manuscript = ManuscriptController(self.editor, FilePrompts(self), files, self)
        self.file_actions = build_file_menu(self, self.manuscript, files)
        self.word_counts = WordCountController(self.editor, self)
        m = self.manuscript
        m.opened.connect(self.documentOpened)
        m.saved.connect(self.documentSaved)
        m.pathChanged.connect(self.documentPathChanged)
        m.loaded.connect(self.word_counts.start_session)
        # A manuscript's takes live in its sidecar folder: they come and go with it.
        m.loaded.connect(self.takes.clear)
        m.opened.connect(self.load_takes)
        m.saved.connect(self.save_takes)
        m.stateChanged.connect(self._update_actions)  # read-only comes and goes with Save As
        m.stateChanged.connect(self._show_title)
        m.notice.connect(self.file_notice.show_notice)
        m.status.connect(lambda message: self.statusBar().showMessage(message, 8000))
        self.word_counts.counted.connect(
            lambda counts: self.word_count_label.setText(counts.describe())
        )
        self.word_counts.start_session()
        self._show_title()

    def open_file(self, path: Path) -> bool:
        """Open the manuscript at `path` (asking first about unsaved changes)."""
        return self.manuscript.open(path)

    def _show_title(self) -> None:
        m = self.manuscript
        read_only = " (read-only)" if m.read_only else ""
        self.setWindowTitle(f"{m.title}[*]{read_only} — Storyloom")
        self.setWindowFilePath(str(m.path) if m.path else "")
        self.setWindowModified(m.modified)

    # -- start-up, connection and models ----------------------------------------------------

    def start_up(self) -> None:
        """Check the server, then the models (call once the event loop runs); offer to recover
        what a crash left unsaved (from a timer: the dialog must not start inside a task)."""
        self.connection.check()
        QTimer.singleShot(0, self.manuscript.offer_recovery)

    def _show_server_status(self, status: ServerStatus) -> None:
        self.connection_panel.show_status(
            status,
            command=start_command(),
            install_url=install_url(),
            can_start=self.connection.can_start_server(),
        )
        if status.state.usable:
            self.models.refresh()
        else:
            self.model_offer.hide()  # pulling needs the server first

    def _start_ollama(self) -> None:
        self.connection_panel.show_starting()
        self.connection.start_server()

    def _show_models(self, models: list[ModelInfo]) -> None:
        names = [info.name for info in models]
        installed = {info.key for info in models}
        names += [name for name, _ in STORYLOOM_MODELS if model_key(name) not in installed]
        current = self.model_box.currentText()
        with QSignalBlocker(self.model_box):
            self.model_box.clear()
            self.model_box.addItems(names)
            self.model_box.setCurrentText(current)
        self._check_current_model()

    def _check_current_model(self) -> None:
        """Offer the pull if the chosen model is missing; else warm it up."""
        status = self.connection.status
        if self.models.models is None or status is None or not status.state.usable:
            return
        model = self.model
        if self.models.is_pulling(model):
            self.model_offer.show_pulling(model)
        elif self.models.installed(model) is not None:
            self.model_offer.hide()
            self._warm_up(model)
        elif not self.models.models:
            self.model_offer.offer(
                model,
                "Ollama is running but has no models yet. Storyloom needs one to continue "
                f"your story: pull {model} here, no terminal needed.",
            )
        else:
            self.model_offer.offer(model, f"“{model}” is not installed in Ollama yet.")

    def _warm_up(self, model: str) -> None:
        """Preload the model once per session, so the first continuation is not a cold start."""
        if model_key(model) in self._warmed:
            return
        self._warmed.add(model_key(model))
        self._preload(model)

    def _pull_started(self, name: str) -> None:
        self._warmed.discard(model_key(name))  # new weights: warm them up once they are in
        if model_key(name) == model_key(self.model):
            self.model_offer.show_pulling(name)

    def _pull_finished(self, name: str) -> None:
        if model_key(name) != model_key(self.model):
            return
        self.model_offer.hide()
        self._check_current_model()
        if self._continue_after_pull == model_key(name):
            self._continue_after_pull = None
            if not self.editor.has_pending() and not self.controller.phase.is_active:
                self.continue_story()

    def _pull_failed(self, name: str, message: str) -> None:
        if model_key(name) == model_key(self.model):
            self.model_offer.show_failure(name, f"Pulling {name} failed. {message}")

    def open_model_manager(self) -> ModelManagerDialog:
        if self.model_manager is None:
            self.model_manager = ModelManagerDialog(self.models, self)
            self.model_manager.useRequested.connect(self.use_model)
            self.model_manager.preloadRequested.connect(self._preload)
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def use_model(self, name: str) -> None:
        self.model_box.setCurrentText(name)
        self._check_current_model()

    def _preload(self, name: str) -> None:
        # The num_ctx the continuations will use: another one would make Ollama reload.
        settings = self._generation_for(name)
        self.models.preload(name, settings.num_ctx, settings.keep_alive)

    # -- settings -----------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.model_box.currentText().strip() or self.settings.model

    @property
    def profile(self) -> Profile:
        return self.profiles.for_model(self.model)

    @property
    def generation(self) -> GenerationSettings:
        """What the next continuation is sent with, from the settings of the current model."""
        return self._generation_for(self.model)

    @generation.setter
    def generation(self, value: GenerationSettings) -> None:
        """Store `value`'s options as the writer's choice for `value.model` (scripts use it)."""
        profile = self.profiles.for_model(value.model)
        auto = self.settings.auto_num_ctx(self.models.cached(value.model))
        chosen = self.settings.options(value.model, profile)
        keep_alive = None if value.keep_alive is None else str(value.keep_alive)
        options = ModelOptions(
            num_ctx=None if chosen.num_ctx is None and value.num_ctx == auto else value.num_ctx,
            num_predict=value.num_predict,
            temperature=value.temperature,
            top_p=value.top_p,
            top_k=value.top_k,
            repeat_penalty=value.repeat_penalty,
            seed=value.seed,
            keep_alive=keep_alive,
        )
        self.settings.set_options(value.model, options, profile)
        self.meter.schedule()

    def _generation_for(self, model: str) -> GenerationSettings:
        profile = self.profiles.for_model(model)
        return self.settings.generation(model, profile, self.models.cached(model))

    def open_settings(self) -> SettingsDialog:
        model = self.model
        auto = self.settings.auto_num_ctx(self.models.cached(model))
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()  # it was made for the model of its time
        self.settings_dialog = SettingsDialog(self.settings, model, self.profile, auto, self)
        self.settings_dialog.applied.connect(self._settings_applied)
        self.settings_dialog.open()
        return self.settings_dialog

    def _settings_applied(self) -> None:
        self._apply_editor_settings()
        if self.settings.host != self._host_setting:
            self._host_setting = self.settings.host
            self._switch_host(self.settings.host)
        self._warmed.discard(model_key(self.model))  # a new num_ctx would reload it anyway
        self.meter.schedule()

    def _apply_editor_settings(self) -> None:
        editor = self.settings.editor
        self.editor.set_writing_font(editor.font_family, editor.font_size)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, editor.theme)

    def _switch_host(self, host: str) -> None:
        """Talk to another server from now on: a new client, a fresh check and model list.
        Whatever still talks to the old server stops first: its client is closed below."""
        self._cancel_tasks()
        old = self.backend
        self.backend = OllamaBackend(host=host or None)
        self.controller.backend = self.backend
        self._manager = ModelManager(self.backend.client)
        self.models.forget()
        self._warmed.clear()
        task = asyncio.get_running_loop().create_task(old.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self.connection.check()

    def _model_text_changed(self, text: str) -> None:
        if text.strip() and text.strip() != self.settings.model:
            self.settings.set_model(text)
        if self._continue_after_pull not in (None, model_key(self.model)):
            self._continue_after_pull = None  # the writer moved on to another model
        self.steering.set_guided(self.profile.guided, self.model)
        self._update_actions()
        self.meter.schedule()

    # -- the writer's loop ------------------------------------------------------------------

    def _request(self, position: int | None = None) -> ContinuationRequest:
        """A continuation from `position` (default: the writer's cursor)."""
        if position is None:
            position = self.editor.textCursor().selectionEnd()
        story = text_before(self.editor, position)
        profile = self.profile
        guidance = self.guidance_edit.text().strip() if profile.guided else ""
        return ContinuationRequest(
            story, self.generation, guidance or None, profile=profile, length=self.steering.length
        )

    async def _settle(self, request: ContinuationRequest) -> ContinuationRequest:
        """Before sending: learn the model's trained context if unknown, for num_ctx."""
        model = request.settings.model
        info = await self.models.info(model)
        settings = self.settings.generation(model, request.profile, info)
        return replace(request, settings=settings)

    def _measure_context(self) -> ContextUsage:
        return self.backend.context_usage(self._request())

    def continue_story(self) -> None:
        if self.editor.has_pending():
            self.accept()
            return
        if self.manuscript.read_only:
            self.statusBar().showMessage("This manuscript is open read-only.", 5000)
            return
        request = self._request()
        self.editor.begin_pending()
        self.takes.begin(request, self.editor.pending_range()[0])
        self.reasoning.begin_take()
        self.controller.start(request)
        self.model_box.setToolTip(self.model)

    def accept(self) -> None:
        if not self.editor.has_pending():
            return
        self.controller.stop()
        if not self.editor.has_pending():  # stopped before any prose came: nothing to accept
            self._update_actions()
            return
        self.editor.accept_pending()
        self.takes.mark_accepted()
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

    def _pending_changed(self, pending: bool) -> None:
        # The pending text went while the model still writes (New, Open or Reload replaced the
        # story; an editor left to accept on its own): what it sends has nowhere to go.
        if not pending and self.controller.phase.is_active:
            self.controller.cancel()

    def retry(self) -> None:
        if not self.editor.has_pending() and not self.controller.phase.is_active:
            return
        self.reject()
        self.continue_story()

    # -- steering and takes -------------------------------------------------------------------

    def suggest_directions(self) -> None:
        """Ask the model for three directions from the cursor (or the pending take's place)."""
        position = self.editor.pending_range()[0] if self.editor.has_pending() else None
        self.directions.suggest(self._request(position))

    def cycle_take(self, step: int) -> None:
        """Alt+Left / Alt+Right: the previous or next take here, inline (a stream stops first,
        and what it wrote becomes a take)."""
        if self.editor.has_pending():
            self._show_inline(lambda: self.takes.cycle(step))

    def show_take(self, index: int) -> None:
        """A take chosen in the panel: shown inline if a take is pending here, else its plan."""
        if self.editor.has_pending():
            self._show_inline(lambda: self.takes.select(index))
        else:
            self.takes.select(index)

    def _show_inline(self, choose: Callable[[], Take | None]) -> None:
        """Stop a stream, then show the take `choose()` picks in place of the pending text."""
        start = self.editor.pending_range()[0]
        self.controller.stop()
        take = choose()
        if take is None:
            return
        if not self.editor.has_pending():  # stopped before any prose came: the span went
            cursor = self.editor.textCursor()
            cursor.setPosition(start)
            self.editor.setTextCursor(cursor)
            self.editor.begin_pending()
        self.editor.replace_pending(take.answer)

    def rewrite_from_plan(self, plan: str) -> None:
        """Keep the plan (as the writer edited it) and ask only for new prose: a new take here.

        The assistant turn is prefilled with the plan, so a cra model continues inside <answer>.
        """
        if not self.editor.has_pending() or self.controller.phase.is_active:
            return
        if self.profile.style is not RequestStyle.RAW_CRA or not plan.strip():
            return
        start = self.editor.pending_range()[0]
        request = replace(self._request(start), prefill=render_plan_prefill(plan))
        self.editor.replace_pending("")
        self.takes.begin(request, start, plan=plan)
        self.reasoning.begin_take(plan.strip())
        self.controller.start(request)

    def save_takes(self, manuscript: Path) -> bool:
        """Write the story's takes beside `manuscript` (`story.md.storyloom/takes.json`);
        call it after saving the manuscript. False (and the reason shown) if they were not."""
        try:
            note = self.takes.save(manuscript)
        except TakesFileError as exc:
            self._show_takes_problem(str(exc))
            return False
        if note:
            self._show_takes_problem(note)
        return True

    def load_takes(self, manuscript: Path) -> bool:
        """Read the takes saved beside `manuscript`; call it once the editor holds its text.
        False (and the reason shown) if they could not be read: the story opens without them."""
        try:
            self.takes.load(manuscript)
        except TakesFileError as exc:
            self._show_takes_problem(str(exc))
            return False
        return True

    def _keep_take(self, phase: Phase) -> None:
        if not phase.is_active and phase is not Phase.IDLE:
            self.takes.finish(self.controller.state)

    def _follow_cursor(self) -> None:
        if not self.editor.has_pending():
            self.takes.follow(self.editor.textCursor().position())

    def _show_takes(self) -> None:
        writing = self.takes.writing
        self.reasoning.show_takes(self.takes.takes, self.takes.index, writing=writing)
        if not writing:
            self.reasoning.show_plan(self.takes.current, editable=self.editor.has_pending())

    def _show_takes_problem(self, message: str) -> None:
        self.reasoning.show_notice(message, error=True)
        self.statusBar().showMessage(message, 15000)

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
        if stats.prompt_tokens:  # unknown when Storyloom closed the stream at the length asked
            self.context_label.setText(
                f"context {stats.prompt_tokens:,} / {stats.num_ctx:,} tokens"
            )
        if stats.warning:
            self.reasoning.show_notice(stats.warning)
        elif Malformation.NO_TAGS in stats.malformations:
            self.reasoning.show_notice(
                "The model answered without its <reasoning>/<answer> tags; "
                "its whole reply is shown as prose."
            )
        self.meter.schedule()  # the calibration has just learnt from Ollama's real count

    def _show_failure(self, failure: Failed) -> None:
        self.reasoning.show_notice(failure.message, error=True)
        self.statusBar().showMessage(failure.message, 10000)
        model = self.controller.request.settings.model if self.controller.request else self.model
        if failure.kind is FailureKind.MODEL_NOT_FOUND:
            self._continue_after_pull = model_key(model)
            self.model_offer.offer(
                model,
                f"“{model}” is not installed in Ollama. Pull it, and Storyloom continues your "
                "story as soon as it is ready.",
            )
        elif failure.kind is FailureKind.SERVER_UNREACHABLE:
            self.connection.check()

    def _update_actions(self) -> None:
        pending = self.editor.has_pending()
        running = self.controller.phase.is_active
        self.accept_action.setEnabled(pending)
        self.reject_action.setEnabled(pending)
        self.retry_action.setEnabled(pending or running)
        self.stop_action.setEnabled(running)
        self.continue_action.setEnabled(not running and not self.editor.isReadOnly())
        raw = self.profile.style is RequestStyle.RAW_CRA
        self.reasoning.set_rewrite_available(
            pending and not running and raw,
            ""
            if raw
            else "Rewriting from a plan needs a cra-v1 model (a chat model cannot "
            "be given the start of its reply).",
        )

    # -- closing ------------------------------------------------------------------------------

    def stop_tasks(self) -> None:
        """Cancel every stream, check and download (cancelling closes their connections)."""
        self.meter.timer.stop()
        self._cancel_tasks()

    def _cancel_tasks(self) -> None:
        # Safe after Qt deleted the closed window: no Qt call unless a stream still runs.
        self.controller.stop()
        self.directions.stop()
        self.connection.stop()
        self.models.stop()

    async def shutdown(self) -> None:
        """Stop everything (closing a stream tells Ollama to stop) and close the client."""
        self._cancel_tasks()
        await self.controller.wait()
        await self.directions.wait()
        await self.connection.wait()
        await self.models.wait()
        for task in list(self._closing):
            await task
        await self.backend.aclose()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.manuscript.close_document():  # the writer cancelled, or saving failed
            event.ignore()
            return
        self.stop_tasks()
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.manuscript.check_disk()  # another program may have changed the file
