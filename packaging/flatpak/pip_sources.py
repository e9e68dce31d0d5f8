"""Regenerate the Flatpak's pinned Python wheels (python3-deps.json, build-deps.json).

    python packaging/flatpak/pip_sources.py     # needs PyPI; run when a dependency changes

flatpak-builder builds without network, so every wheel is listed with its URL and sha256. pip
itself resolves them (`pip install --dry-run --report`) for the runtime's Python on both
Flathub architectures; a wheel that differs between them is marked `only-arches`. PySide6 is
not listed: io.qt.PySide.BaseApp provides it, built against the runtime's own Qt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIME_PYTHON = "3.12"  # org.kde.Platform 6.9 is built on freedesktop-sdk 24.08
ARCHES = {"x86_64": "x86_64", "aarch64": "aarch64"}
RUNTIME_REQUIREMENTS = ("qasync>=0.27", "ollama>=0.6,<0.7", "platformdirs>=4")  # pyproject, less Qt
BUILD_REQUIREMENTS = ("hatchling>=1.25",)


def resolve(requirements: tuple[str, ...], arch: str) -> list[dict[str, str]]:
    """The wheels pip would install for the runtime's Python on `arch`: name, url, sha256."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}  # PyPI itself, not a local mirror
        env.pop("PIP_FIND_LINKS", None)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--dry-run"),
                *("--index-url", "https://pypi.org/simple", "--ignore-installed"),
                *("--only-binary=:all:", "--implementation", "cp"),
                *("--python-version", RUNTIME_PYTHON, "--target", str(Path(folder) / "t")),
                *("--platform", f"manylinux2014_{arch}", "--platform", f"manylinux_2_28_{arch}"),
                *("--report", str(report), *requirements),
            ],
            check=True,
            env=env,
        )
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return [
        {
            "name": item["metadata"]["name"],
            "url": item["download_info"]["url"],
            "sha256": item["download_info"]["archive_info"]["hashes"]["sha256"],
        }
        for item in installs
    ]


def sources(requirements: tuple[str, ...], dest: str | None = None) -> list[dict[str, object]]:
    by_arch = {arch: resolve(requirements, tag) for arch, tag in ARCHES.items()}
    urls: dict[str, dict[str, object]] = {}
    for arch, wheels in by_arch.items():
        for wheel in wheels:
            entry = urls.setdefault(
                wheel["url"], {"type": "file", "url": wheel["url"], "sha256": wheel["sha256"]}
            )
            entry.setdefault("_arches", []).append(arch)  # type: ignore[union-attr]
    result = []
    for entry in sorted(urls.values(), key=lambda e: str(e["url"]).rsplit("/", 1)[-1].lower()):
        arches = entry.pop("_arches")
        if len(arches) < len(ARCHES):  # type: ignore[arg-type]
            entry["only-arches"] = arches
        if dest:
            entry["dest"] = dest
        result.append(entry)
    return result


def main() -> int:
    names = " ".join(r.split(">")[0].split("<")[0] for r in RUNTIME_REQUIREMENTS)
    deps = {
        "name": "python3-deps",
        "buildsystem": "simple",
        "build-commands": [
            'pip3 install --no-index --find-links="file://${PWD}" --prefix=${FLATPAK_DEST} '
            f"--no-build-isolation {names}"
        ],
        "sources": sources(RUNTIME_REQUIREMENTS),
    }
    (HERE / "python3-deps.json").write_text(json.dumps(deps, indent=2) + "\n", encoding="utf-8")
    build = sources(BUILD_REQUIREMENTS, dest="build-deps")
    (HERE / "build-deps.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(deps['sources'])} runtime and {len(build)} build wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
