"""`storyloom-pipeline export` and `verify-gguf`: argument handling around the export package."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyloom_pipeline.export.metadata import ExportInfo
    from storyloom_pipeline.recipe import Recipe
    from storyloom_pipeline.train.run_folder import RunFolder


def _recipe(args: argparse.Namespace) -> Recipe | None:
    from storyloom_pipeline.recipe import RecipeError, load_recipe

    if not args.recipe:
        return None
    try:
        return load_recipe(Path(args.recipe))
    except RecipeError as exc:
        raise SystemExit(f"storyloom-pipeline export: {exc}") from exc


def _info(args: argparse.Namespace, recipe: Recipe | None) -> ExportInfo:
    from storyloom_pipeline.export.metadata import ExportInfo

    fields = vars(ExportInfo.from_recipe(recipe)).copy() if recipe else {}
    overrides = {"name": args.name, "tokenizer_pre": args.tokenizer_pre, "license": args.license}
    fields.update({key: value for key, value in overrides.items() if value})
    try:
        return ExportInfo(**{"name": "", "tokenizer_pre": "", **fields})
    except ValueError as exc:
        raise SystemExit(
            f"storyloom-pipeline export: {exc} (give --recipe or --name/--tokenizer-pre)"
        ) from None


def _types(args: argparse.Namespace, recipe: Recipe | None) -> list[str]:
    if args.types:
        return [part.strip() for part in args.types.split(",") if part.strip()]
    if recipe:
        return list(recipe.export.types)
    return ["f16"]


def run_export(args: argparse.Namespace) -> int:
    from storyloom_pipeline.export.adapter import AdapterError, export_adapter
    from storyloom_pipeline.export.engine import EngineError, EngineUnavailable
    from storyloom_pipeline.export.hf_model import ModelFolderError
    from storyloom_pipeline.export.model_gguf import export_merged
    from storyloom_pipeline.export.types import adapter_file_name
    from storyloom_pipeline.export.vocab import VocabError

    if not (args.adapter or args.merged or args.recipe):
        raise SystemExit(
            "storyloom-pipeline export: nothing to export "
            "(give --adapter and/or --merged, or --recipe for its run folder)"
        )
    recipe = _recipe(args)
    info = _info(args, recipe)
    sources = _sources(args, recipe)
    adapter, merged, out = sources.adapter, sources.merged, sources.out
    try:
        if adapter:
            started = time.perf_counter()
            path = export_adapter(
                adapter,
                out / adapter_file_name(info.name),
                info,
                base_model=sources.base,
                dtype=args.adapter_dtype,
            )
            _report(path, started)
        if merged:
            clock = [time.perf_counter()]

            def written(path: Path) -> None:
                _report(path, clock[0])
                clock[0] = time.perf_counter()

            export_merged(merged, out, info, _types(args, recipe), on_written=written)
    except EngineUnavailable as exc:
        raise SystemExit(
            f"storyloom-pipeline export: {exc}\nWithout llama.cpp, export f16 and let Ollama "
            "quantize at publish time: `ollama create --quantize q4_K_M`."
        ) from exc
    except (AdapterError, ModelFolderError, VocabError, EngineError, ValueError, OSError) as exc:
        raise SystemExit(f"storyloom-pipeline export: {exc}") from exc
    return 0


@dataclass(frozen=True)
class _Sources:
    adapter: Path | None
    merged: Path | None
    base: str | None  # the adapter's base model (for its config); None: the adapter's own
    out: Path


def _sources(args: argparse.Namespace, recipe: Recipe | None) -> _Sources:
    """What to export and where: the folders given, or else the recipe's run folder (its
    adapter, when the recipe exports one, and its merged model), into the run's gguf/.
    The run folder is the one `train` wrote: named after the recipe, whatever --name says."""
    from storyloom_pipeline.train.run_folder import RunFolder

    run = RunFolder.for_recipe(recipe.name) if recipe else None
    out = Path(args.out) if args.out else (run.gguf if run else None)
    if out is None:
        raise SystemExit("storyloom-pipeline export: give --out (or --recipe for its run folder)")
    if args.adapter or args.merged or run is None or recipe is None:
        return _Sources(_path(args.adapter), _path(args.merged), args.base, out)
    adapter = run.adapter if recipe.export.adapter and run.adapter.is_dir() else None
    merged = run.merged if run.merged.is_dir() else None
    if merged is not None:
        _check_merge(run)
    if adapter is None and merged is None:
        raise SystemExit(
            f"storyloom-pipeline export: {run.path} holds neither adapter/ nor merged/ "
            "(run `storyloom-pipeline train --recipe ... --merge` first)"
        )
    # The adapter names its base by Hub id (cra-v1) or by a folder of the training machine;
    # the merged model has the base's config.json, else the recipe names the base.
    has_config = (run.merged / "config.json").is_file()
    base = args.base or (str(run.merged) if has_config else recipe.base_model)
    return _Sources(adapter, merged, base, out)


def _check_merge(run: RunFolder) -> None:
    """The run's merged/ is a finished merge of the run's adapter/ as it is now."""
    from storyloom_pipeline.train.model import (
        adapter_digest,
        missing_adapter_files,
        read_merge_record,
    )

    again = "run `storyloom-pipeline train --recipe ... --merge` again"
    record = read_merge_record(run.merged)
    if record is None:
        raise SystemExit(
            f"storyloom-pipeline export: {run.merged} holds no finished merge (its "
            f"storyloom-merge.json is written last); {again}"
        )
    has_adapter = not missing_adapter_files(run.adapter)
    if has_adapter and record.get("adapter_sha256") != adapter_digest(run.adapter):
        raise SystemExit(
            f"storyloom-pipeline export: {run.merged} was merged from another adapter than "
            f"{run.adapter} holds now (trained again since?); {again}"
        )


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _report(path: Path, started: float) -> None:
    size = path.stat().st_size / 1e6
    print(f"{path}  {size:.1f} MB  {time.perf_counter() - started:.1f} s", file=sys.stderr)


def run_verify(args: argparse.Namespace) -> int:
    from storyloom_pipeline.export import adapter as adapter_gguf
    from storyloom_pipeline.export import model_gguf
    from storyloom_pipeline.export.engine import EngineError, EngineUnavailable
    from storyloom_pipeline.export.verify import verify_gguf

    reference = Path(args.reference)
    adapter = Path(args.adapter) if args.adapter else None
    expected = None
    if adapter is not None and args.adapter_source:
        # The merged reference has the base model's config.json, which is all the mapping needs.
        expected = adapter_gguf.source_tensors(Path(args.adapter_source), reference)
    elif adapter is None and not args.no_tensors:
        expected = model_gguf.source_tensors(reference)
    try:
        report = verify_gguf(
            Path(args.gguf),
            reference,
            adapter=adapter,
            expected_tensors=expected,
            prompt=Path(args.prompt_file).read_text(encoding="utf-8") if args.prompt_file else None,
            greedy_tokens=args.tokens,
            n_threads=args.threads,
            reference_dtype=args.reference_dtype,
        )
    except (EngineUnavailable, EngineError, OSError, ValueError) as exc:
        raise SystemExit(f"storyloom-pipeline verify-gguf: {exc}") from exc
    print(report.summary())
    return 0 if report.passed else 1


def add_parsers(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write the LoRA adapter and the merged model as GGUF files",
        description="Write a peft LoRA adapter as a GGUF adapter (llama.cpp --lora, Ollama "
        "ADAPTER) and a merged transformers model as GGUF files: f32, f16, bf16, q8_0, q5_0, "
        "q4_0 with gguf-py; K-quants (q4_k_m, q5_k_m, q6_k, …) with llama.cpp's quantizer. "
        "Without llama.cpp, publish the f16 file with `ollama create --quantize q4_K_M`.",
    )
    export.add_argument("--recipe", metavar="YAML", help="name, licence, base model, types")
    export.add_argument(
        "--adapter", metavar="DIR", help="a peft adapter folder (default: the run's adapter/)"
    )
    export.add_argument(
        "--base",
        metavar="REF",
        help="the adapter's base model, for its config: a folder, .gguf or Hub id (default: "
        "the run's merged/, else the recipe's base_model; with --adapter, the adapter's own)",
    )
    export.add_argument(
        "--merged", metavar="DIR", help="a merged model folder (default: the run's merged/)"
    )
    export.add_argument(
        "--out", metavar="DIR", help="folder for the GGUF files (default: the run's gguf/)"
    )
    export.add_argument("--types", help="comma-separated, e.g. f16,q8_0,q4_k_m (default: recipe)")
    export.add_argument("--adapter-dtype", choices=("f32", "f16"), default="f32")
    export.add_argument("--name", help="model name (default: the recipe's)")
    export.add_argument("--tokenizer-pre", help="llama.cpp pre-tokenizer (default: the recipe's)")
    export.add_argument("--license", help="licence id (default: the recipe's)")
    export.set_defaults(func=run_export)

    verify = commands.add_parser(
        "verify-gguf",
        help="check a GGUF against its transformers model in llama.cpp",
        description="Read a GGUF back (metadata, tensors) and compare llama.cpp's logits and "
        "greedy continuation with transformers' on the same token ids. Exits 1 when a bound "
        "is exceeded (last-token max |Δlogit|: F32 1e-3, F16 0.1, BF16 1.0; greedy equal).",
    )
    from storyloom_pipeline.export.reference_dtype import REFERENCE_DTYPES, REFERENCE_ROUNDING

    rounding = ", ".join(f"{k} +{v:g}" for k, v in REFERENCE_ROUNDING.items() if v)
    verify.add_argument("gguf", help="the GGUF model (the base model when --adapter is given)")
    verify.add_argument(
        "--reference", required=True, metavar="DIR", help="the transformers folder it should equal"
    )
    verify.add_argument(
        "--reference-dtype",
        choices=REFERENCE_DTYPES,
        default="float32",
        help="the reference's weights and arithmetic. float32 (default) is exact and needs 4 "
        "bytes per weight in RAM (Qwen2.5-7B ~30 GB, 32B ~131 GB); bfloat16 and float16 "
        f"need half (~15 GB, ~66 GB) and loosen every logit bound by their own rounding "
        f"({rounding}); float16 may overflow on some models. The GGUF is memory-mapped on top",
    )
    verify.add_argument("--adapter", metavar="GGUF", help="a GGUF LoRA adapter to apply at load")
    verify.add_argument(
        "--adapter-source", metavar="DIR", help="the peft folder the adapter was made from"
    )
    verify.add_argument(
        "--no-tensors", action="store_true", help="skip comparing every tensor with its source"
    )
    verify.add_argument("--prompt-file", metavar="FILE", help="prompt text (default: a story)")
    verify.add_argument("--tokens", type=int, default=16, help="greedy tokens to compare (16)")
    verify.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
    verify.set_defaults(func=run_verify)
