"""The model manager: what Ollama has installed and loaded, pulling, deleting and preloading.

A non-modal dialog over the ModelController: it renders the controller's signals and turns
clicks into its calls. "Use" and "Load into memory" go to the window, which knows the settings.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.models import STORYLOOM_MODELS, ModelInfo, PullProgress, model_key
from storyloom.gui.controllers.models import ModelController
from storyloom.gui.widgets.pull_progress import PullProgressRow, format_bytes

COLUMNS = ("Model", "Size", "Family", "Parameters", "Quantization", "Context", "Loaded")


class ModelManagerDialog(QDialog):
    useRequested = Signal(str)
    preloadRequested = Signal(str)

    def __init__(self, models: ModelController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = models
        self.setWindowTitle("Models")
        self.setObjectName("modelManager")
        self.resize(820, 520)
        self.rows: dict[str, PullProgressRow] = {}  # model_key -> download row
        self._setup_ui()
        models.modelsChanged.connect(self.show_models)
        models.listFailed.connect(self.show_message)
        models.actionFailed.connect(self.show_message)
        models.pullStarted.connect(self._pull_started)
        models.pullProgress.connect(self._pull_progress)
        models.pullFailed.connect(self._pull_failed)
        models.pullCancelled.connect(self._pull_cancelled)
        models.deleted.connect(lambda name: self.show_message(f"Deleted {name}."))
        models.preloaded.connect(lambda name: self.show_message(f"{name} is loaded and ready."))
        if models.models is not None:
            self.show_models(models.models)

    def _setup_ui(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("modelTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _: self._use())

        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.models.refresh)
        self.use_button = QPushButton("Use for my story", self)
        self.use_button.clicked.connect(self._use)
        self.preload_button = QPushButton("Load into memory", self)
        self.preload_button.setToolTip("Load it now, so the next continuation starts at once.")
        self.preload_button.clicked.connect(
            lambda: self.preloadRequested.emit(self.selected() or "")
        )
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.clicked.connect(self._delete)
        actions = QHBoxLayout()
        for button in (self.refresh_button, self.use_button, self.preload_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.delete_button)

        storyloom_box = QGroupBox("Storyloom models", self)
        grid = QGridLayout(storyloom_box)
        self.storyloom_buttons: dict[str, QPushButton] = {}
        for row, (name, description) in enumerate(STORYLOOM_MODELS):
            grid.addWidget(QLabel(f"<b>{name}</b>", storyloom_box), row, 0)
            grid.addWidget(QLabel(description, storyloom_box), row, 1)
            button = QPushButton("Pull", storyloom_box)
            button.setObjectName(f"pull:{name}")
            button.clicked.connect(lambda _=False, n=name: self.models.pull(n))
            grid.addWidget(button, row, 2)
            self.storyloom_buttons[name] = button
        grid.setColumnStretch(1, 1)

        self.pull_name = QLineEdit(self)
        self.pull_name.setObjectName("pullName")
        self.pull_name.setPlaceholderText("Any model from ollama.com, e.g. qwen2.5:7b")
        self.pull_name.returnPressed.connect(self._pull_by_name)
        self.pull_button = QPushButton("Pull", self)
        self.pull_button.clicked.connect(self._pull_by_name)
        by_name = QHBoxLayout()
        by_name.addWidget(QLabel("Pull by name:", self))
        by_name.addWidget(self.pull_name, 1)
        by_name.addWidget(self.pull_button)

        self.downloads = QVBoxLayout()
        self.status = QLabel(self)
        self.status.setObjectName("modelStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(storyloom_box)
        layout.addLayout(by_name)
        layout.addLayout(self.downloads)
        layout.addWidget(self.status)
        self._update_buttons()

    # -- rendering ----------------------------------------------------------------------------

    def show_models(self, models: list[ModelInfo]) -> None:
        selected = self.selected()
        self.table.setRowCount(len(models))
        for row, info in enumerate(models):
            cells = (
                info.name,
                format_bytes(info.size),
                info.family,
                info.parameter_size,
                info.quantization,
                f"{info.context_length:,}" if info.context_length else "?",
                f"yes ({info.loaded_context:,} ctx)" if info.loaded_context else "",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, info.name)
                self.table.setItem(row, column, item)
            if selected == info.name:
                self.table.selectRow(row)
        installed = {info.key for info in models}
        for name, button in self.storyloom_buttons.items():
            button.setEnabled(model_key(name) not in installed and not self.models.is_pulling(name))
            button.setText("Installed" if model_key(name) in installed else "Pull")
        self._update_buttons()

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def selected(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _update_buttons(self) -> None:
        chosen = self.selected() is not None
        for button in (self.use_button, self.preload_button, self.delete_button):
            button.setEnabled(chosen)

    # -- actions ------------------------------------------------------------------------------

    def _use(self) -> None:
        if (name := self.selected()) is not None:
            self.useRequested.emit(name)

    def _pull_by_name(self) -> None:
        name = self.pull_name.text().strip()
        if name:
            self.models.pull(name)
            self.pull_name.clear()

    def _delete(self) -> None:
        name = self.selected()
        if name is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete model",
            f"Delete {name} from Ollama? It can be pulled again later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        if box.exec() == QMessageBox.StandardButton.Yes:
            self.models.delete(name)

    # -- downloads ----------------------------------------------------------------------------

    def _pull_started(self, name: str) -> None:
        self._drop_row(name)
        row = PullProgressRow(name, self)
        row.cancelRequested.connect(self.models.cancel_pull)
        self.rows[model_key(name)] = row
        self.downloads.addWidget(row)
        button = self.storyloom_buttons.get(name)
        if button is not None:
            button.setEnabled(False)
        self.show_message("")

    def _pull_progress(self, name: str, progress: PullProgress) -> None:
        row = self.rows.get(model_key(name))
        if row is not None:
            row.show_progress(progress)

    def _pull_failed(self, name: str, message: str) -> None:
        self._drop_row(name)
        self.show_message(f"Pulling {name} failed. {message}")
        if self.models.models is not None:
            self.show_models(self.models.models)

    def _pull_cancelled(self, name: str) -> None:
        self._drop_row(name)
        self.show_message(f"Pulling {name} was cancelled; a new pull resumes where it stopped.")
        if self.models.models is not None:
            self.show_models(self.models.models)

    def _drop_row(self, name: str) -> None:
        row = self.rows.pop(model_key(name), None)
        if row is not None:
            self.downloads.removeWidget(row)
            row.deleteLater()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.models.refresh()
