"""The status bar's context meter: how the next request fills num_ctx, before anything is cut."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from storyloom.core.context_window import ContextLevel, ContextUsage

_BAR_COLOURS = {
    ContextLevel.OK: "",
    ContextLevel.WARNING: "QProgressBar::chunk { background: #e0a800; }",
    ContextLevel.CUT: "QProgressBar::chunk { background: #dc3545; }",
}


class ContextMeter(QWidget):
    """Render-only: the window hands it a `ContextUsage`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(90)
        self.bar.setFixedHeight(10)
        self.label = QLabel(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.label)
        self.level = ContextLevel.OK

    def show_usage(self, usage: ContextUsage) -> None:
        self.level = usage.level
        self.bar.setRange(0, usage.num_ctx)
        self.bar.setValue(min(usage.num_ctx, usage.prompt_tokens + usage.reserved_tokens))
        self.bar.setStyleSheet(_BAR_COLOURS[usage.level])
        self.label.setText(f"next ≈{usage.prompt_tokens:,} + {usage.reserved_tokens:,} reply")
        if usage.level is ContextLevel.CUT:
            self.label.setText(self.label.text() + " · story start left out")
        elif usage.level is ContextLevel.WARNING:
            self.label.setText(self.label.text() + f" · only {usage.free_tokens:,} free")
        self.setToolTip(
            f"The next continuation sends about {usage.prompt_tokens:,} tokens of prompt and "
            f"reserves {usage.reserved_tokens:,} for the reply, of a context of "
            f"{usage.num_ctx:,} tokens: {usage.free_tokens:,} free."
            + (
                "\nThe beginning of the story no longer fits and is left out. Raise the "
                "context size in Settings, or accept it: the model sees the latest part."
                if usage.level is ContextLevel.CUT
                else ""
            )
        )
