"""Settings: the Ollama host, the current model's generation options, the editor's look, and
how many backups each save keeps.

Opened non-modally (`open()`); OK and Apply validate everything first, with the same rules as
stored values (core.options), and show what is wrong instead of saving half of it. "Reset to
defaults" fills in the defaults; nothing is saved until OK or Apply.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFontComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from storyloom.core.backend import DEFAULT_HOST
from storyloom.core.backups import DEFAULT_BACKUPS_KEPT
from storyloom.core.file_settings import MAX_BACKUPS_KEPT, FileSettings
from storyloom.core.options import LIMITS, ModelOptions, OptionError
from storyloom.core.profiles import Profile
from storyloom.core.settings import AppSettings, EditorSettings, Theme, check_host

THEMES = ((Theme.SYSTEM, "Follow the system"), (Theme.LIGHT, "Light"), (Theme.DARK, "Dark"))


def _optional_float(low: float, high: float, step: float, unset: str) -> QDoubleSpinBox:
    """A spin box whose lowest position (one step below `low`) means "not set"."""
    box = QDoubleSpinBox()
    box.setDecimals(2)
    box.setSingleStep(step)
    box.setRange(low - step, high)
    box.setSpecialValueText(unset)
    return box


def _optional_int(low: int, high: int, step: int, unset: str) -> QSpinBox:
    box = QSpinBox()
    box.setSingleStep(step)
    box.setRange(low - 1, high)
    box.setSpecialValueText(unset)
    return box


class SettingsDialog(QDialog):
    applied = Signal()

    def __init__(
        self,
        settings: AppSettings,
        model: str,
        profile: Profile,
        auto_num_ctx: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.model = model
        self.profile = profile
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self._setup_ui(auto_num_ctx)
        self.load(settings.host, settings.options(model, profile), settings.editor)

    def _setup_ui(self, auto_num_ctx: int) -> None:
        tabs = QTabWidget(self)
        tabs.addTab(self._model_tab(auto_num_ctx), "Model")
        tabs.addTab(self._connection_tab(), "Connection")
        tabs.addTab(self._editor_tab(), "Editor")
        tabs.addTab(self._files_tab(), "Files")
        self.error = QLabel(self)
        self.error.setObjectName("settingsError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b02a37;")
        self.error.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        self.buttons = buttons
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).setText("Reset to defaults")
        buttons.clicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _model_tab(self, auto_num_ctx: int) -> QWidget:
        tab = QWidget(self)
        form = QFormLayout(tab)
        about = self.profile.description or self.profile.name
        form.addRow(QLabel(f"<b>{self.model}</b><br>Profile: {about}", tab))
        high = LIMITS["num_ctx"][1]
        self.num_ctx = QSpinBox(tab)
        self.num_ctx.setRange(0, int(high))  # 0: automatic; 1 to 511 fail validation
        self.num_ctx.setSingleStep(1024)
        self.num_ctx.setSpecialValueText(f"Automatic ({auto_num_ctx:,})")
        self.num_ctx.setToolTip(
            "Tokens of story plus reply the model sees. Automatic: the model's trained context, "
            "capped so its memory fits this computer."
        )
        low, high = LIMITS["num_predict"]
        self.num_predict = QSpinBox(tab)
        self.num_predict.setRange(int(low), int(high))
        self.num_predict.setSingleStep(256)
        self.temperature = _optional_float(*LIMITS["temperature"], 0.05, "Model default")
        self.top_p = _optional_float(*LIMITS["top_p"], 0.05, "Model default")
        self.top_k = _optional_int(*map(int, LIMITS["top_k"]), 1, "Model default")
        self.repeat_penalty = _optional_float(*LIMITS["repeat_penalty"], 0.01, "Model default")
        self.seed = _optional_int(*map(int, LIMITS["seed"]), 1, "Random")
        self.keep_alive = QLineEdit(tab)
        self.keep_alive.setPlaceholderText("Ollama's default (5m)")
        self.keep_alive.setToolTip("How long the model stays loaded: 30m, 2h, or -1 for always.")
        for label, widget in (
            ("Context size (num_ctx)", self.num_ctx),
            ("Reply length (num_predict)", self.num_predict),
            ("Temperature", self.temperature),
            ("Top p", self.top_p),
            ("Top k", self.top_k),
            ("Repeat penalty", self.repeat_penalty),
            ("Seed", self.seed),
            ("Keep loaded for", self.keep_alive),
        ):
            form.addRow(label, widget)
        return tab

    def _connection_tab(self) -> QWidget:
        tab = QWidget(self)
        form = QFormLayout(tab)
        self.host = QLineEdit(tab)
        self.host.setObjectName("hostEdit")
        fallback = os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        self.host.setPlaceholderText(f"{fallback} (OLLAMA_HOST or Ollama's default)")
        form.addRow("Ollama server", self.host)
        return tab

    def _editor_tab(self) -> QWidget:
        tab = QWidget(self)
        form = QFormLayout(tab)
        self.default_font = QCheckBox("Storyloom's book font", tab)
        self.font_family = QFontComboBox(tab)
        self.font_family.setEnabled(False)
        self.default_font.toggled.connect(lambda on: self.font_family.setEnabled(not on))
        self.font_size = QDoubleSpinBox(tab)
        self.font_size.setRange(6.0, 72.0)
        self.font_size.setSingleStep(0.5)
        self.font_size.setDecimals(1)
        self.theme = QComboBox(tab)
        for theme, label in THEMES:
            self.theme.addItem(label, theme)
        form.addRow("Font", self.default_font)
        form.addRow("", self.font_family)
        form.addRow("Size", self.font_size)
        form.addRow("Theme", self.theme)
        return tab

    def _files_tab(self) -> QWidget:
        tab = QWidget(self)
        form = QFormLayout(tab)
        self.files = FileSettings(self.settings.store)
        self.backups_kept = QSpinBox(tab)
        self.backups_kept.setObjectName("backupsKept")
        self.backups_kept.setRange(0, MAX_BACKUPS_KEPT)
        self.backups_kept.setSpecialValueText("None")
        self.backups_kept.setValue(self.files.backups_kept)
        self.backups_kept.setToolTip(
            "Each save keeps the version it replaces in the manuscript's “.storyloom” folder, "
            "beside it; the oldest go first."
        )
        form.addRow("Backups to keep", self.backups_kept)
        return tab

    # -- values -------------------------------------------------------------------------------

    def load(self, host: str, options: ModelOptions, editor: EditorSettings) -> None:
        self.host.setText(host)
        self.num_ctx.setValue(options.num_ctx or self.num_ctx.minimum())
        self.num_predict.setValue(options.num_predict)
        for box, value in (
            (self.temperature, options.temperature),
            (self.top_p, options.top_p),
            (self.top_k, options.top_k),
            (self.repeat_penalty, options.repeat_penalty),
            (self.seed, options.seed),
        ):
            box.setValue(box.minimum() if value is None else value)
        self.keep_alive.setText(options.keep_alive or "")
        self.default_font.setChecked(not editor.font_family)
        if editor.font_family:
            self.font_family.setCurrentFont(QFont(editor.font_family))
        self.font_size.setValue(editor.font_size)
        self.theme.setCurrentIndex(self.theme.findData(editor.theme))
        self.error.hide()

    def chosen_options(self) -> ModelOptions:
        """The model options as entered; raises OptionError with what is wrong."""

        def unset_at_minimum(box: QSpinBox | QDoubleSpinBox) -> float | None:
            return None if box.value() == box.minimum() else box.value()

        return ModelOptions.from_mapping(
            {
                "num_ctx": unset_at_minimum(self.num_ctx),
                "num_predict": self.num_predict.value(),
                "temperature": unset_at_minimum(self.temperature),
                "top_p": unset_at_minimum(self.top_p),
                "top_k": unset_at_minimum(self.top_k),
                "repeat_penalty": unset_at_minimum(self.repeat_penalty),
                "seed": unset_at_minimum(self.seed),
                "keep_alive": self.keep_alive.text().strip() or None,
            }
        )

    def chosen_editor(self) -> EditorSettings:
        family = "" if self.default_font.isChecked() else self.font_family.currentFont().family()
        # The combo box hands the enum back as its plain string value.
        return EditorSettings(family, self.font_size.value(), Theme(self.theme.currentData()))

    def apply(self) -> bool:
        """Validate and save everything, or nothing; True when saved."""
        try:
            host = check_host(self.host.text())
            options = self.chosen_options()
        except OptionError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        self.settings.set_host(host)
        self.settings.set_options(self.model, options, self.profile)
        self.settings.set_editor(self.chosen_editor())
        self.files.set_backups_kept(self.backups_kept.value())
        self.error.hide()
        self.applied.emit()
        return True

    def reset_to_defaults(self) -> None:
        self.load("", self.profile.options, EditorSettings())
        self.backups_kept.setValue(DEFAULT_BACKUPS_KEPT)

    def _clicked(self, button: QAbstractButton) -> None:
        role = self.buttons.standardButton(button)
        if role == QDialogButtonBox.StandardButton.RestoreDefaults:
            self.reset_to_defaults()
        elif role == QDialogButtonBox.StandardButton.Apply:
            self.apply()
        elif role == QDialogButtonBox.StandardButton.Ok:
            if self.apply():
                self.accept()
        else:
            self.reject()
