"""One model download: a real progress bar with bytes, percent, speed and time left, and Cancel."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from storyloom.core.models import PullProgress

BAR_STEPS = 1000  # per mille, so a 20 GB download moves the bar every 20 MB


def format_bytes(count: float) -> str:
    """Decimal units, as Ollama and download pages state model sizes: 4.7 GB."""
    units = ("B", "KB", "MB", "GB")
    exponent = 0
    while count >= 1000 and exponent < len(units) - 1:
        count /= 1000
        exponent += 1
    return f"{count:.0f} B" if exponent == 0 else f"{count:.1f} {units[exponent]}"


def format_duration(seconds: float) -> str:
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def describe(progress: PullProgress) -> str:
    """“1.2 GB of 4.7 GB · 34.0 MB/s · 2 min left”, or Ollama's step when no bytes move."""
    if progress.done:
        return f"Done · {format_bytes(progress.total)}"
    if not progress.total:
        return progress.status.capitalize()
    parts = [f"{format_bytes(progress.completed)} of {format_bytes(progress.total)}"]
    if progress.bytes_per_second:
        parts.append(f"{format_bytes(progress.bytes_per_second)}/s")
    if progress.eta_seconds is not None and progress.completed < progress.total:
        parts.append(f"{format_duration(progress.eta_seconds)} left")
    elif progress.completed >= progress.total:
        parts.append(progress.status)  # verifying, writing the manifest…
    return " · ".join(parts)


class PullProgressRow(QWidget):
    cancelRequested = Signal(str)  # the model name

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.title = QLabel(f"Pulling {name}", self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.bar.setFormat("%p %")
        self.bar.setMinimumWidth(160)
        self.detail = QLabel("Starting…", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(lambda: self.cancelRequested.emit(self.name))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.cancel_button)

    def show_progress(self, progress: PullProgress) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.bar.setRange(0, 0)  # busy: Ollama has not said how much comes yet
        else:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(round(fraction * BAR_STEPS))
        self.detail.setText(describe(progress))
        self.cancel_button.setEnabled(not progress.done)
