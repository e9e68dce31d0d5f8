"""The bundle recipes, unbuilt: PyInstaller's lists and Info.plist, the Flatpak manifest.

Building the PyInstaller bundle is tests/integration/test_bundle.py; the Flatpak cannot be
built here (flatpak-builder needs Flathub), so its manifest is checked for what would break it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import plistlib
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from packaging.requirements import Requirement

from storyloom import APP_ID, __version__

REPO = Path(__file__).resolve().parents[2]
FLATPAK = REPO / "packaging" / "flatpak"
MANIFEST = FLATPAK / f"{APP_ID}.yml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
FLATPAK_PYTHON = "3.12"  # org.kde.Platform 6.9's (freedesktop-sdk 24.08)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle_info = load(REPO / "packaging" / "pyinstaller" / "bundle_info.py")


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


# -- PyInstaller -----------------------------------------------------------------------------


def test_bundle_leaves_out_the_pipeline_and_every_ml_library() -> None:
    pipeline = {
        requirement_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["pipeline"]
    }
    ml = {"torch", "transformers", "peft", "datasets", "gguf", "nltk"}
    assert ml <= pipeline  # the pipeline extra still holds them
    assert {"storyloom_pipeline", *ml} <= set(bundle_info.EXCLUDES)


def test_bundle_excludes_no_module_the_app_needs() -> None:
    needed = {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "qasync", "ollama"}
    needed |= {"httpx", "pydantic", "platformdirs", "storyloom", "asyncio"}
    assert not needed & set(bundle_info.EXCLUDES)


@pytest.mark.parametrize(
    ("path", "pruned"),
    [
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/tls/libqopensslbackend.so", True),
        ("PySide6/Qt/lib/libQt6Network.so.6", True),
        ("PySide6\\Qt6Network.dll", True),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),  # the self-test's
        ("PySide6/plugins/platforms/qwindows.dll", False),
        ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", False),
        ("PySide6/Qt/lib/libQt6Gui.so.6", False),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", False),
    ],
)
def test_plugin_pruning_spares_every_desktop_platform(path: str, pruned: bool) -> None:
    assert bundle_info.is_pruned(path) is pruned
    entries = [(path, "/src/" + path, "BINARY")]
    assert bundle_info.keep(entries) == ([] if pruned else entries)


def test_bundle_data_files_exist() -> None:
    for source, dest in bundle_info.DATA_FILES:
        assert (REPO / source).is_file(), source
        assert not Path(dest).is_absolute()
    assert all(Path(src).is_absolute() for src, _ in bundle_info.datas())


def test_macos_info_plist() -> None:
    info = bundle_info.info_plist()
    assert info["CFBundleIdentifier"] == APP_ID
    assert info["CFBundleShortVersionString"] == __version__
    assert info["NSHighResolutionCapable"] is True
    assert info["CFBundleExecutable"] == bundle_info.EXECUTABLE
    assert plistlib.loads(plistlib.dumps(info)) == info  # every value is plist-serialisable


def test_launcher_is_the_installed_entry_point() -> None:
    gui_scripts = PYPROJECT["project"]["gui-scripts"]
    assert gui_scripts[bundle_info.EXECUTABLE] == "storyloom.__main__:main"
    launch = (REPO / "packaging" / "pyinstaller" / "launch.py").read_text(encoding="utf-8")
    assert "from storyloom.__main__ import main" in launch


# -- Flatpak ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def module_file(name: str) -> dict | list:
    return json.loads((FLATPAK / name).read_text(encoding="utf-8"))


def test_flatpak_identity(manifest: dict) -> None:
    assert manifest["id"] == APP_ID == MANIFEST.stem
    assert manifest["runtime"] == "org.kde.Platform"
    assert manifest["sdk"] == "org.kde.Sdk"
    assert manifest["base"] == "io.qt.PySide.BaseApp"
    assert manifest["base-version"] == manifest["runtime-version"]
    assert manifest["command"] in PYPROJECT["project"]["gui-scripts"]


def test_flatpak_permissions(manifest: dict) -> None:
    args = set(manifest["finish-args"])
    assert {"--share=network", "--filesystem=xdg-documents", "--socket=wayland"} <= args
    assert "--socket=fallback-x11" in args and "--socket=x11" not in args
    assert not {a for a in args if a in ("--filesystem=home", "--filesystem=host")}


def test_flatpak_installs_the_desktop_files_under_the_app_id(manifest: dict) -> None:
    app = next(m for m in manifest["modules"] if isinstance(m, dict) and m["name"] == "storyloom")
    commands = "\n".join(app["build-commands"])
    for source in (
        "resources/linux/${FLATPAK_ID}.desktop",
        "resources/linux/${FLATPAK_ID}.metainfo.xml",
        "resources/icons/${FLATPAK_ID}.svg",
    ):
        assert source in commands
        assert (REPO / source.replace("${FLATPAK_ID}", APP_ID)).is_file()
    assert app["test-commands"] == ["storyloom --self-test"]
    assert (MANIFEST.parent / app["sources"][0]["path"]).resolve() == REPO


def test_flatpak_module_files_exist(manifest: dict) -> None:
    referenced = [m for m in manifest["modules"] if isinstance(m, str)]
    for module in manifest["modules"]:
        if isinstance(module, dict):
            referenced += [s for s in module.get("sources", []) if isinstance(s, str)]
    assert sorted(referenced) == ["build-deps.json", "python3-deps.json"]


def test_flatpak_wheels_are_pinned() -> None:
    wheels = module_file("python3-deps.json")["sources"] + module_file("build-deps.json")
    assert wheels
    for wheel in wheels:
        assert wheel["url"].startswith("https://files.pythonhosted.org/"), wheel["url"]
        assert wheel["url"].endswith(".whl")
        assert re.fullmatch(r"[0-9a-f]{64}", wheel["sha256"])
        assert set(wheel.get("only-arches", ["x86_64"])) <= {"x86_64", "aarch64"}


def installed_closure(names: set[str], python: str) -> set[str]:
    """Every distribution the named ones need on Linux with `python`, from installed metadata."""
    environment = {"python_version": python, "sys_platform": "linux", "platform_system": "Linux"}
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or marker.evaluate({**environment, "extra": ""}):
                todo.append(requirement_name(requirement.name))
    return seen


def test_flatpak_wheels_cover_the_app_dependencies_but_qt() -> None:
    """A dependency added to pyproject must reach the Flatpak too (rerun pip_sources.py)."""
    base = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    qt = {"pyside6-essentials", "shiboken6"}  # from io.qt.PySide.BaseApp
    needed = installed_closure(base - qt, FLATPAK_PYTHON) - qt
    wheels = {
        requirement_name(w["url"].rsplit("/", 1)[-1].split("-")[0])
        for w in module_file("python3-deps.json")["sources"]
    }
    assert needed - wheels == set()
    assert "torch" not in wheels and not {n for n in wheels if n.startswith("pyside")}
    arch_specific = [w for w in module_file("python3-deps.json")["sources"] if "only-arches" in w]
    for arch in ("x86_64", "aarch64"):  # a compiled wheel needs one build per architecture
        assert any(arch in w["only-arches"] for w in arch_specific)
