"""The GGUFs of a Modelfile on the Hugging Face Hub, with a model card (`publish --hf-repo`).

One commit holds the GGUF files, README.md (the card), a Modelfile whose FROM/ADAPTER name the
files beside it (so a download builds with `ollama create -f Modelfile`), and the `template`,
`system` and `params` files that the Hub's Ollama integration reads, so that
`ollama run hf.co/<repo>` renders prompts exactly as the Modelfile does (hub-docs ollama.md).
The token comes from HF_TOKEN or `hf auth login`, never from an argument on the command line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyloom_pipeline.modelfile import render
from storyloom_pipeline.publish.plan import CreatePlan, PlanError, plan_create

if TYPE_CHECKING:
    from huggingface_hub import HfApi


class HubError(Exception):
    """The Hub refused the upload; the message says what to do."""


def upload_to_hub(
    modelfile: Path,
    repo_id: str,
    *,
    private: bool = True,
    ollama_name: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Upload the GGUFs that `modelfile` names, with a model card, to the model repository
    `repo_id` (created if needed, private unless told otherwise). Returns the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        plan = plan_create(modelfile)
    except PlanError as exc:
        raise HubError(str(exc)) from exc
    if not plan.files:
        raise HubError(f"{modelfile} names no local GGUF file to upload (FROM {plan.base})")
    api = api or HfApi()
    texts = hub_texts(plan, repo_id, ollama_name=ollama_name)
    operations = [CommitOperationAdd(path.name, str(path)) for path in plan.files]
    operations += [CommitOperationAdd(name, text.encode("utf-8")) for name, text in texts.items()]
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(
            repo_id,
            operations,
            commit_message=f"Upload {', '.join(path.name for path in plan.files)}",
            repo_type="model",
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise HubError(
                f"the Hub refused {repo_id} ({status}): log in with `hf auth login` or set "
                f"HF_TOKEN to a token that may write to the {repo_id.split('/')[0]!r} namespace"
            ) from exc
        raise HubError(f"the Hub refused the upload to {repo_id}: {exc}") from exc
    return str(info.commit_url)


def hub_texts(plan: CreatePlan, repo_id: str, *, ollama_name: str | None) -> dict[str, str]:
    """The text files of the repository, by name."""
    modelfile = plan.modelfile
    local = dataclasses.replace(
        modelfile,
        from_=f"./{plan.model_file.name}" if plan.model_file else modelfile.from_,
        adapter=f"./{plan.adapter_file.name}" if plan.adapter_file else None,
    )
    texts = {"README.md": model_card(plan, repo_id, ollama_name=ollama_name)}
    texts["Modelfile"] = render(local)
    if modelfile.template is not None:
        texts["template"] = modelfile.template
    if modelfile.system is not None:
        texts["system"] = modelfile.system
    if modelfile.parameters:
        texts["params"] = json.dumps(modelfile.parameter_dict(), ensure_ascii=False, indent=2)
    return texts


def model_card(plan: CreatePlan, repo_id: str, *, ollama_name: str | None) -> str:
    modelfile = plan.modelfile
    name = repo_id.split("/")[-1]
    base = modelfile.header_field("Base model")
    license_id = modelfile.licenses[0].split("\n", 1)[0].strip() if modelfile.licenses else None
    metadata: dict[str, Any] = {
        "license": license_id or "other",
        "library_name": "gguf",
        "pipeline_tag": "text-generation",
        "tags": ["storyloom", "creative-writing", "reasoning", "gguf", "ollama"],
    }
    if base and "/" in base and not base.startswith(("package:", "/", ".")):
        metadata["base_model"] = base
    lines = [
        "---",
        *_yaml(metadata),
        "---",
        "",
        f"# {name}",
        "",
        modelfile.header[0] if modelfile.header else f"GGUF files of {name}.",
        "",
        "A creative reasoning assistant for Storyloom, a writing app: given the "
        "story so far, it first reasons about where the story goes "
        "(`<reasoning>…</reasoning>`), then continues it (`<answer>…</answer>`).",
        "",
        "## Files",
        "",
        "| file | what |",
        "|---|---|",
    ]
    for path, what in ((plan.model_file, "the model"), (plan.adapter_file, "the LoRA adapter")):
        if path is not None:
            lines.append(f"| `{path.name}` | {what}, {path.stat().st_size:,} bytes |")
    lines += [
        "| `Modelfile` | for `ollama create -f Modelfile` in a download of this repository |",
        "| `template`, `system`, `params` | read by `ollama run hf.co/...` |",
        "",
        "## Use",
        "",
        "```sh",
        f"ollama run hf.co/{repo_id}",
    ]
    if ollama_name:
        lines.append(f"ollama run {ollama_name}   # the same model from ollama.com")
    lines += ["```", "", "## Prompt format", ""]
    version = modelfile.header_field("Prompt format")
    if version:
        lines.append(f"Storyloom prompt format `{version}` (defined in `storyloom.prompting`):")
    lines += [
        "ChatML with this system prompt; Storyloom sends the finished prompt itself.",
        "",
        "```text",
        modelfile.system or "",
        "```",
        "",
        "## Licence",
        "",
        "\n".join(modelfile.licenses) or "See the repository.",
        "",
    ]
    return "\n".join(lines)


def _yaml(metadata: dict[str, Any]) -> list[str]:
    import yaml

    return yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True).splitlines()
