"""The evaluation report, as Markdown (`report.md`, plots beside it under `plots/`) and as
one self-contained HTML file (`report.html`, plots inlined), both from `metrics.json`.

The report is built once as a list of blocks (headings, paragraphs, tables, figures) and
written out by two small renderers, so both files always say the same thing.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyloom_pipeline.evaluation import plots
from storyloom_pipeline.evaluation.summary import MIN_CHUNKS, ON_PACE

DASH = "–"
SAMPLES = 2  # chunks whose texts the report shows


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Quote:
    """A passage of story text, shown as is (no Markdown read into it)."""

    label: str
    text: str


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Figure:
    name: str  # file name under plots/
    caption: str
    png: bytes


Block = Heading | Paragraph | Bullets | Quote | Table | Figure


# -- numbers as text ------------------------------------------------------------------------


def num(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def share(interval: dict | None) -> str:
    """ "3/4 (75 %, 95 % CI 30–95 %)"."""
    if interval is None:
        return DASH
    k = round(interval["value"] * interval["n"])
    low, high = interval["low"] * 100, interval["high"] * 100
    return f"{k}/{interval['n']} ({interval['value'] * 100:.0f} %, CI {low:.0f}–{high:.0f} %)"


def ranged(interval: dict | None, digits: int = 3, signed: bool = False) -> str:
    if interval is None:
        return DASH
    sign = "+" if signed else ""
    value, low, high = interval["value"], interval["low"], interval["high"]
    return f"{value:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def likelihood_cell(entry: dict | None) -> str:
    if entry is None:
        return "n/a"
    return f"{entry['nll_per_token']:.3f} (ppl {entry['perplexity']:.1f})"


# -- the report -----------------------------------------------------------------------------


def summary_table(metrics: dict[str, Any]) -> Table:
    """The headline table (also the one the README shows for the smoke run)."""
    roles = list(metrics["models"])
    m = metrics["metrics"]
    ref = m["reference"]
    target = ref["pacing"]["sentences_mean"]
    rows: list[list[str]] = []

    def row(name: str, cells: Sequence[str], reference: str = DASH) -> None:
        rows.append([name, *cells, reference])

    for condition, name in (
        ("direct", "after `<answer>`"),
        ("after_reasoning", "after own reasoning"),
    ):
        row(
            f"NLL/token {name} (perplexity)",
            [likelihood_cell(m[r]["likelihood"][condition]) for r in roles],
        )
    row(
        "bits per byte after `<answer>`",
        [num((m[r]["likelihood"]["direct"] or {}).get("bits_per_byte"), 3) for r in roles],
    )
    row("well-formed replies", [share(m[r]["format"]["well_formed"]) for r in roles])
    row("replies cut by the token limit", [str(m[r]["format"]["hit_token_limit"]) for r in roles])
    row(
        "answer sentences, mean ± sd",
        [
            f"{num(m[r]['pacing']['sentences_mean'], 1)} ± {num(m[r]['pacing']['sentences_sd'], 1)}"
            for r in roles
        ],
        num(target, 1),
    )
    row(
        f"on pace (±{ON_PACE * 100:.0f} % of the true length)",
        [share(m[r]["pacing"]["on_pace"]) for r in roles],
    )
    row("echo rate", [share(m[r]["echo"]["rate"]) for r in roles], share(ref["echo"]["rate"]))
    row(
        "8-grams copied from the context",
        [num(m[r]["echo"]["copied_share"], 3) for r in roles],
        num(ref["echo"]["copied_share"], 3),
    )
    for field, name in (("distinct_2", "distinct-2"), ("repeated_4grams", "repeated 4-grams")):
        row(
            name,
            [num(m[r]["repetition"][field], 3) for r in roles],
            num(ref["repetition"][field], 3),
        )
    judge = metrics["comparison"]["judge"]
    if judge is not None:
        row(
            "judged: wins / ties / losses (score, 95 % CI)",
            [
                f"{judge['win']} / {judge['tie']} / {judge['loss']} ({ranged(judge['score'], 2)})",
                DASH,
            ],
        )
    labels = [metrics["models"][r]["label"] for r in roles]
    header = ["metric", *(f"{r}: {label}" for r, label in zip(roles, labels, strict=True))]
    return Table([*header, "human continuation"], rows)


def details_table(metrics: dict[str, Any]) -> Table:
    """Everything else measured on the answers, beside the human continuation's."""
    roles = list(metrics["models"])
    m = metrics["metrics"]
    ref = m["reference"]
    rows = []
    for field in ("distinct_1", "distinct_2", "distinct_3", "repeated_4grams"):
        name = field.replace("distinct_", "distinct-").replace("_4grams", " 4-grams")
        cells = [num(m[r]["repetition"][field], 3) for r in roles]
        rows.append([name, *cells, num(ref["repetition"][field], 3)])
    cells = [num(m[r]["repetition"]["repeated_sentences"], 3) for r in roles]
    rows.append(["repeated sentences", *cells, num(ref["repetition"]["repeated_sentences"], 3)])
    rows.append(["words per answer", *(num(m[r]["words"], 1) for r in roles), num(ref["words"], 1)])
    pacing = [m[r]["pacing"] for r in roles]
    rows.append(
        [
            "answer sentences, median (min–max)",
            *(
                f"{num(p['sentences_median'], 1)} ({p['sentences_min']}–{p['sentences_max']})"
                for p in pacing
            ),
            DASH,
        ]
    )
    rows.append(
        [
            "answers opening with an echo",
            *(str(m[r]["echo"]["opens_with_echo"]) for r in roles),
            DASH,
        ]
    )
    speed = [num(m[r]["generation"]["tokens_per_second"], 1) for r in roles]
    rows.append(["generated tokens per second (prompt time included)", *speed, DASH])
    return Table(["measure", *roles, "human continuation"], rows)


def build_report(metrics: dict[str, Any]) -> list[Block]:
    models = metrics["models"]
    roles = list(models)
    labels = {role: models[role]["label"] for role in roles}
    selection = metrics["selection"]
    blocks: list[Block] = [
        Heading(f"Evaluation: {labels['model']} vs {labels['baseline']}", 1),
        Paragraph(_decision_text(metrics)),
        Paragraph(
            f"{len(selection['chunks'])} held-out chunks ({selection['split']} split, seed "
            f"{selection['seed']}) of {selection['dataset']}; prompt format "
            f"{metrics['prompt_format_version']}; commit "
            f"{_commit(metrics['provenance'])}; {metrics['provenance']['created']}."
        ),
        *_skipped_blocks(metrics),
        Heading("Summary"),
        summary_table(metrics),
        Heading("Details"),
        details_table(metrics),
        *_comparison_blocks(metrics),
        *_figures(metrics, roles, labels),
        Heading("Per book"),
        _per_book_table(metrics, roles),
        Heading("Malformations"),
        _malformation_table(metrics, roles),
        *_samples(metrics, roles, labels),
        Heading("What each metric means"),
        Bullets(DEFINITIONS),
        Heading("Models and settings"),
        _models_table(metrics, roles),
        Paragraph("Generation: " + _settings_text(metrics["settings"]["generation"])),
        Paragraph("Judge: " + _judge_settings_text(metrics["settings"]["judge"])),
        Heading("Held-out chunks"),
        Paragraph(
            f"{len(selection['chunks'])} of the {selection['available']} chunks of the "
            f"'{selection['split']}' split, drawn with seed {selection['seed']} (sample size "
            f"{selection['sample']}); the same list is in selection.json."
        ),
        Table(
            ["chunk", "book", "sha256 (16)"],
            [
                [c["chunk_id"], c["title"] or c["book_id"], c["sha256_16"]]
                for c in selection["chunks"]
            ],
        ),
    ]
    if metrics["unjudged"]:
        blocks += [Heading("Left unjudged"), Bullets(metrics["unjudged"])]
    return blocks


def _skipped_blocks(metrics: dict[str, Any]) -> list[Block]:
    """Chunks a model could not take (too long for its window): counted per model and reason,
    then one line each; every figure of the report leaves them out."""
    skipped = metrics.get("skipped") or []
    if not skipped:
        return []
    counts = Counter((entry["role"], entry["reason"]) for entry in skipped)
    left_out = len({entry["chunk_id"] for entry in skipped})
    compared = len(metrics["selection"]["chunks"]) - left_out
    return [
        Heading("Skipped chunks"),
        Paragraph(
            f"{left_out} of {len(metrics['selection']['chunks'])} chunks are left out of every "
            f"figure below (both models are measured on the same {compared}):"
        ),
        Bullets(
            [
                f"{role}: {n} chunk{'' if n == 1 else 's'} skipped: {reason}"
                for (role, reason), n in counts.items()
            ]
            + [f"{e['chunk_id']} ({e['role']}): {e['detail']}" for e in skipped]
        ),
    ]


DEFINITIONS = (
    "NLL/token: the mean negative log-likelihood (nats) of the true continuation's tokens, "
    "teacher-forced after the app's prompt, either directly after `<answer>` or after the "
    "model's own generated reply up to its `<answer>`; summed over chunks, then divided by "
    "the tokens. Perplexity = exp(NLL/token). Bits per byte divides by the continuation's "
    "UTF-8 bytes instead, so models with different tokenizers compare. Lower is better. "
    "Ollama models show n/a: Ollama returns log-probabilities of generated tokens only.",
    "ΔNLL/token: the mean over chunks of (model − baseline) NLL per token, with a 95 % "
    "bootstrap interval over chunks; below zero the model under test predicts the human "
    "continuation better.",
    "Well-formed: the app's parser (`storyloom.prompting.parse_response`) read "
    "`<reasoning>…</reasoning><answer>…</answer>` with no malformation. Wilson 95 % intervals.",
    "Pacing: sentences in the answer (the pipeline's Punkt splitter) against the true "
    f"continuation's; on pace = within ±{ON_PACE * 100:.0f} % of it.",
    "Echo rate: answers whose first 8 words repeat a passage of the context, or half of whose "
    "word 8-grams occur in the context. 8-grams copied: the mean share of the answer's word "
    "8-grams found in the context.",
    "distinct-n: unique word n-grams / all word n-grams of an answer, averaged over answers "
    "(higher is more varied). Repeated 4-grams: the share of an answer's 4-grams that repeat "
    "an earlier one in it; repeated sentences likewise for whole sentences (a looping model).",
    "Judged preference: a judge model sees the story's end and both answers as A and B, "
    "blind, in both orders; +1/0/−1 per order for the model under test, summed per chunk: a "
    "win, tie or loss. Score = (wins + ties/2) / judged chunks, 95 % bootstrap interval; 0.5 "
    "is no preference. Position consistency: chunks where both orders agreed.",
    "Keep: the model under test measurably beats its baseline when the likelihood after "
    "`<answer>` or the judged preference is better with its interval clear of no difference, "
    f"and neither is measurably worse; with fewer than {MIN_CHUNKS} chunks compared the "
    "report decides nothing.",
)


def _commit(provenance: dict[str, Any]) -> str:
    commit = provenance.get("commit")
    if not commit:
        return "unknown (not a git checkout)"
    return commit[:12] + (
        " with uncommitted changes" if provenance.get("uncommitted_changes") else ""
    )


def _decision_text(metrics: dict[str, Any]) -> str:
    decision = metrics["decision"]
    found = "; ".join(f"{name}: {finding}" for name, finding in decision["findings"].items())
    if decision["keep"] is None:
        indicative = f" Indicative only: {found}." if found else ""
        return f"**No decision**: {decision['why']}.{indicative}"
    verdict = "**Keep**" if decision["keep"] else "**Do not keep**"
    return f"{verdict} the model under test ({found})."


def _comparison_blocks(metrics: dict[str, Any]) -> list[Block]:
    comparison = metrics["comparison"]
    blocks: list[Block] = [Heading("Model vs baseline")]
    items = [
        f"ΔNLL/token after `<answer>`: {ranged(comparison['nll_direct_delta'], signed=True)}",
        "ΔNLL/token after own reasoning: "
        f"{ranged(comparison['nll_after_reasoning_delta'], signed=True)}",
    ]
    judge = comparison["judge"]
    if judge is None:
        items.append("Judged preference: no judge was asked (--judge-model).")
    else:
        items.append(
            f"Judged preference: {judge['win']} wins, {judge['tie']} ties, {judge['loss']} "
            f"losses, {judge['unjudged']} unjudged; score {ranged(judge['score'], 2)}; position "
            f"consistency {num(judge['position_consistency'])}; first-shown answer preferred "
            f"in {num(judge['first_shown_preferred'])} of verdicts; {judge['tokens']} judge "
            f"tokens, {_cost(judge['cost'])}."
        )
    blocks.append(Bullets(items))
    return blocks


def _cost(cost: float | None) -> str:
    return "cost not reported" if cost is None else f"${cost:.4f}"


def _figures(metrics: dict[str, Any], roles: list[str], labels: dict[str, str]) -> list[Block]:
    rows = metrics["per_chunk"]
    figures: list[Block] = [Heading("Plots")]
    likelihood = plots.likelihood_plot(rows, labels)
    if likelihood is not None:
        figures.append(Figure("likelihood.png", "NLL per token, per chunk", likelihood))
    figures.append(Figure("pacing.png", "Answer length", plots.pacing_plot(rows, roles, labels)))
    figures.append(
        Figure("format.png", "Malformations", plots.format_plot(metrics["metrics"], roles, labels))
    )
    judge = metrics["comparison"]["judge"]
    if judge is not None:
        figures.append(Figure("judge.png", "Judged preference", plots.judge_plot(judge, labels)))
    return figures


def _samples(metrics: dict[str, Any], roles: list[str], labels: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [Heading("Samples")]
    for row in metrics["per_chunk"][:SAMPLES]:
        blocks.append(Heading(f"{row['chunk_id']} ({row['title'] or row['book_id']})", 3))
        blocks.append(Quote("The story ends", row["context_end"]))
        for role in roles:
            blocks.append(Quote(f"{role} ({labels[role]})", row[role]["answer"] or "(no answer)"))
        blocks.append(Quote("The book goes on", row["continuation"]))
    return blocks


def _per_book_table(metrics: dict[str, Any], roles: list[str]) -> Table:
    header = ["book", "chunks"]
    for role in roles:
        header += [f"{role} NLL/token", f"{role} well-formed", f"{role} sentences"]
    header.append("judged W/T/L")
    rows = []
    for book in metrics["per_book"]:
        row = [book["title"] or book["book_id"], str(book["chunks"])]
        for role in roles:
            entry = book[role]
            row += [
                num(entry["nll_per_token_direct"], 3) if entry["nll_per_token_direct"] else "n/a",
                f"{entry['well_formed']}/{book['chunks']}",
                num(entry["sentences_mean"], 1),
            ]
        judged = book["judge"]
        judge_asked = metrics["comparison"]["judge"] is not None
        row.append(f"{judged['win']}/{judged['tie']}/{judged['loss']}" if judge_asked else DASH)
        rows.append(row)
    return Table(header, rows)


def _malformation_table(metrics: dict[str, Any], roles: list[str]) -> Table:
    m = metrics["metrics"]
    names = list(m[roles[0]]["format"]["malformations"])
    rows = [
        [name, *(str(m[role]["format"]["malformations"][name]) for role in roles)] for name in names
    ]
    return Table(["malformation", *roles], rows)


def _models_table(metrics: dict[str, Any], roles: list[str]) -> Table:
    rows = []
    for role in roles:
        model = metrics["models"][role]
        runtime = model.get("runtime") or {}
        details = ", ".join(f"{k} {v}" for k, v in runtime.items() if k != "engine")
        rows.append(
            [
                role,
                model["engine"],
                model["ref"],
                model["adapter"] or DASH,
                model["fingerprint"],
                details,
            ]
        )
    return Table(["role", "engine", "model", "adapter", "fingerprint", "runtime"], rows)


def _settings_text(settings: dict[str, Any]) -> str:
    return ", ".join(
        f"{key} {json.dumps(value, ensure_ascii=False)}" for key, value in settings.items()
    )


def _judge_settings_text(settings: dict[str, Any] | None) -> str:
    if not settings:
        return "none."
    return _settings_text(settings)


# -- rendering ------------------------------------------------------------------------------


_MD_SPECIAL = re.compile(r"([\\`*_\[\]#<>|])")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Quote):
            lines = [_MD_SPECIAL.sub(r"\\\1", line) for line in block.text.splitlines()]
            quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
            out.append(f"**{block.label}:**\n\n{quoted}")
        elif isinstance(block, Table):
            out.append(markdown_table(block))
        else:
            out.append(f"![{block.caption}](plots/{block.name})")
    return "\n\n".join(out) + "\n"


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |"]
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}code{background:#f4f4f4;padding:0 .2rem}figure{margin:1rem 0}
img{max-width:100%}figcaption{color:#555;font-size:.9rem}
blockquote{border-left:3px solid #ccc;margin:.4rem 0 1rem;padding:.2rem .8rem;color:#333}"""


def _inline(text: str) -> str:
    """Escape `text`, then turn the Markdown it uses (`code`, **bold**) into HTML."""
    parts = html.escape(text).split("`")
    for i in range(1, len(parts), 2):
        parts[i] = f"<code>{parts[i]}</code>"
    bold = "".join(parts).split("**")
    for i in range(1, len(bold), 2):
        bold[i] = f"<strong>{bold[i]}</strong>"
    return "".join(bold)


def render_html(blocks: Sequence[Block], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{_inline(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Quote):
            text = html.escape(block.text).replace("\n", "<br>")
            out.append(
                f"<p><strong>{html.escape(block.label)}:</strong></p><blockquote>{text}</blockquote>"
            )
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode(block.png).decode("ascii")
            out.append(
                f'<figure><img alt="{html.escape(block.caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>'
                f"{html.escape(block.caption)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(metrics: dict[str, Any], out: Path) -> list[Path]:
    """Write metrics.json, report.md (+ plots/) and report.html into `out`; their paths."""
    blocks = build_report(metrics)
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for block in blocks:
        if isinstance(block, Figure):
            (plots_dir / block.name).write_bytes(block.png)
    for name, text in (
        ("metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n"),
        ("report.md", render_markdown(blocks)),
        (
            "report.html",
            render_html(blocks, blocks[0].text if isinstance(blocks[0], Heading) else ""),
        ),
    ):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written
