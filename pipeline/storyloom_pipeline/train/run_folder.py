"""The run folder: everything needed to know what a training run was and to pick it up again.

    <run>/recipe.yaml        the resolved recipe (what actually ran; a resume must match it)
    <run>/run.json           one entry per start: git commit (and whether the tree was dirty),
                             library versions, devices, command; the data statistics
    <run>/metrics.jsonl      one JSON object per log: train loss, learning rate, eval loss, …
    <run>/checkpoints/       transformers checkpoints (adapter, optimizer, scheduler, RNG, state)
    <run>/adapter/           the final LoRA adapter (peft) and the tokenizer
    <run>/result.json        written last: the run finished (losses, steps, seconds per stage)
    <run>/merged/            `train --merge`: the adapter folded into the base (transformers)
    <run>/gguf/              `export`: the adapter and merged model as GGUF files, which the
                             committed Modelfiles point at

`runs/<recipe name>` is the default place of a recipe's run for every stage.

Only the main process writes here when several processes train (accelerate launch).
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from storyloom import prompting
from storyloom_pipeline.recipe import Recipe, RecipeError, load_recipe, save_recipe

RUNS_ROOT = Path("runs")
CHECKPOINT_PREFIX = "checkpoint-"
# transformers' just-in-time checkpoint (`enable_jit_checkpoint`; earlier versions of train
# used it) writes this first and deletes it once the checkpoint is complete. It may be
# rewriting an older checkpoint of the same step, whose trainer_state.json is still readable.
INCOMPLETE_MARKER = "checkpoint-is-incomplete.txt"
LIBRARIES = ("storyloom", "torch", "transformers", "peft", "accelerate", "datasets")
LIBRARIES += ("tokenizers", "safetensors", "bitsandbytes")


class RunFolderError(ValueError):
    """A run folder that does not belong to this recipe, or cannot be written."""


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def for_recipe(cls, name: str) -> RunFolder:
        """The default run folder of the recipe called `name` (relative to the repository)."""
        return cls(RUNS_ROOT / name)

    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def merged(self) -> Path:
        return self.path / "merged"

    @property
    def gguf(self) -> Path:
        return self.path / "gguf"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    def claim(self, recipe: Recipe, *, write: bool = True) -> None:
        """Make this the folder of `recipe`: check that the copy already here is the same
        recipe (resuming with other settings would mix two runs), or, with `write` (the main
        process), write its resolved copy."""
        if self.recipe_file.is_file():
            try:
                previous = load_recipe(self.recipe_file)
            except RecipeError as exc:
                raise RunFolderError(f"{self.path} holds an unreadable recipe: {exc}") from None
            changed = _differences(previous.to_dict(), recipe.to_dict())
            if changed:
                raise RunFolderError(
                    f"{self.path} belongs to a run with other settings ({', '.join(changed)}); "
                    "use another run folder, or the recipe in that folder"
                )
            return
        if not write:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.recipe_file.with_suffix(".yaml.partial")
        save_recipe(recipe, partial)
        partial.replace(self.recipe_file)

    def last_checkpoint(self) -> Path | None:
        """The newest complete checkpoint. transformers writes trainer_state.json last, so a
        checkpoint without a readable one was cut short by a kill and is passed over, and so
        is one that still holds transformers' "incomplete" marker."""
        for folder in sorted(self._checkpoint_folders(), key=_step, reverse=True):
            if (folder / INCOMPLETE_MARKER).exists():
                continue
            try:
                json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            return folder
        return None

    def _checkpoint_folders(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        return [
            p
            for p in self.checkpoints.iterdir()
            if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and _step(p) >= 0
        ]

    def record_start(self, resumed_from: Path | None, data: dict[str, Any]) -> None:
        """Append this start (code, libraries, devices) to run.json and set the data stats."""
        run = self.read_json(self.run_file) or {"recipe": None, "starts": []}
        run["recipe"] = load_recipe(self.recipe_file).name
        run["prompt_format_version"] = prompting.PROMPT_FORMAT_VERSION
        run["data"] = data
        run["starts"].append(
            {
                "time": _now(),
                "resumed_from": resumed_from.name if resumed_from else None,
                "git": git_state(Path(__file__).parent),
                "versions": library_versions(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "devices": _devices(),
                "argv": sys.argv,
            }
        )
        _write_json(self.run_file, run)

    def log_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics.open("a", encoding="utf-8") as file:
            file.write(json.dumps(_finite_or_none(record), ensure_ascii=False) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text("utf-8").splitlines() if line]

    def write_result(self, result: dict[str, Any]) -> None:
        _write_json(self.result_file, result)

    @staticmethod
    def read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None


def _step(folder: Path) -> int:
    suffix = folder.name.removeprefix(CHECKPOINT_PREFIX)
    return int(suffix) if suffix.isdigit() else -1


def _differences(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    changed = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _differences(a, b, f"{where}{key}.")
        elif a != b:
            changed.append(f"{where}{key}: {a!r} -> {b!r}")
    return changed


def git_state(folder: Path) -> dict[str, Any]:
    """The commit the code was run from and whether the tree had uncommitted changes
    (None when the code is not a git checkout, e.g. an installed wheel)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": bool(status.strip()) if status is not None else None}


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _devices() -> dict[str, Any]:
    import torch
    from accelerate import PartialState

    cuda = torch.cuda.is_available()
    return {
        "cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "processes": PartialState().num_processes,  # >1 under accelerate launch
        "torch_threads": torch.get_num_threads(),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _finite_or_none(record: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: a diverged loss is written as null (and stops the run, see callbacks)
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }


def _write_json(path: Path, data: Any) -> None:
    # written beside and renamed, so a kill never leaves half a file
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
