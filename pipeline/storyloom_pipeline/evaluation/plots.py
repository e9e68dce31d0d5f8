"""The report's figures (matplotlib, drawn off-screen to PNG bytes)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from matplotlib.ticker import MaxNLocator

COLOURS = {"model": "#2f6db5", "baseline": "#d08a2c", "reference": "#6a9a4b"}


def _figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # drawn without pyplot: no display, no global state

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return figure, figure.subplots()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def likelihood_plot(rows: Sequence[dict], labels: dict[str, str]) -> bytes | None:
    """Per-chunk NLL per token, model against baseline: points below the diagonal are chunks
    where the model under test predicts the human continuation better."""
    figure, axes = _figure(5.4, 4.6)
    drawn = False
    for condition, marker in (("direct", "o"), ("after_reasoning", "^")):
        points = [
            (
                row["baseline"][f"nll_{condition}"] / row["baseline"][f"tokens_{condition}"],
                row["model"][f"nll_{condition}"] / row["model"][f"tokens_{condition}"],
            )
            for row in rows
            if row["model"].get(f"tokens_{condition}")
            and row["baseline"].get(f"tokens_{condition}")
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            label = "after <answer>" if condition == "direct" else "after its own reasoning"
            axes.scatter(xs, ys, marker=marker, alpha=0.75, label=label)
            drawn = True
    if not drawn:
        return None
    low, high = axes.get_xlim()
    low, high = min(low, axes.get_ylim()[0]), max(high, axes.get_ylim()[1])
    axes.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel(f"baseline: {labels['baseline']} (nats/token)")
    axes.set_ylabel(f"model: {labels['model']} (nats/token)")
    axes.set_title("NLL of the true continuation, per chunk")
    axes.legend(fontsize="small")
    return _png(figure)


def pacing_plot(rows: Sequence[dict], roles: Sequence[str], labels: dict[str, str]) -> bytes:
    """How many answers had how many sentences, beside the true continuations' lengths."""
    figure, axes = _figure()
    series = [("reference", [row["target_sentences"] for row in rows], "human continuation")]
    series += [(role, [row[role]["sentences"] for row in rows], labels[role]) for role in roles]
    top = max(max(values, default=0) for _, values, _ in series)
    width = 0.8 / len(series)
    for i, (key, values, label) in enumerate(series):
        counts = Counter(values)
        positions = [n + (i - (len(series) - 1) / 2) * width for n in range(top + 1)]
        axes.bar(
            positions, [counts[n] for n in range(top + 1)], width, label=label, color=COLOURS[key]
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("sentences in the answer")
    axes.set_ylabel("chunks")
    axes.set_title("Pacing: answer length")
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3)
    return _png(figure)


def format_plot(metrics: dict[str, Any], roles: Sequence[str], labels: dict[str, str]) -> bytes:
    """How often each malformation occurred, per model."""
    figure, axes = _figure()
    names = list(metrics[roles[0]]["format"]["malformations"])
    height = 0.8 / len(roles)
    for i, role in enumerate(roles):
        counts = [metrics[role]["format"]["malformations"][name] for name in names]
        positions = [y + (i - (len(roles) - 1) / 2) * height for y in range(len(names))]
        axes.barh(positions, counts, height, label=labels[role], color=COLOURS[role])
    axes.set_yticks(range(len(names)), [name.replace("_", " ") for name in names], fontsize=8)
    axes.invert_yaxis()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("replies")
    axes.set_title("Format: malformations")
    axes.legend(fontsize="small", loc="lower right")
    return _png(figure)


def judge_plot(judge: dict[str, Any], labels: dict[str, str]) -> bytes:
    figure, axes = _figure(6.4, 1.9)
    left = 0
    for key, colour in (("win", "#3a8f4a"), ("tie", "#b5b5b5"), ("loss", "#c0504d")):
        axes.barh([0], [judge[key]], left=left, color=colour, label=f"{key}: {judge[key]}")
        left += judge[key]
    axes.set_yticks([])
    axes.set_xlabel("chunks")
    axes.set_title(f"Judged: {labels['model']} vs {labels['baseline']}")
    axes.legend(ncols=3, fontsize="small", loc="lower right")
    return _png(figure)
