"""The layout rules of DEVELOPERS.md, checked at run time and in the source.

- storyloom.core and storyloom.prompting load no Qt (and no torch) in a fresh interpreter;
- storyloom.prompting needs nothing outside the standard library;
- the app never imports the pipeline; the pipeline takes only storyloom.prompting from the app.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "desktop" / "storyloom"
PIPELINE = REPO / "pipeline" / "storyloom_pipeline"
HEAVY = ("PySide6", "shiboken6", "qasync", "torch", "transformers", "peft", "datasets")


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def qt_free_modules() -> list[str]:
    """Every module of storyloom outside storyloom.gui (and the GUI entry point)."""
    modules = []
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if len(parts) > 1 and parts[1] in ("gui", "__main__"):
            continue
        modules.append(".".join(parts))
    return modules


def test_there_are_qt_free_modules_to_check() -> None:
    modules = qt_free_modules()
    assert "storyloom.prompting" in modules
    assert "storyloom.core" in modules
    assert not any(m.startswith("storyloom.gui") for m in modules)


def test_core_and_prompting_load_no_qt_and_no_torch() -> None:
    out = run_python(
        f"""
        import importlib, sys
        for name in {qt_free_modules()!r}:
            importlib.import_module(name)
        print(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
        """
    )
    assert out.strip() == "[]"


def test_prompting_needs_only_the_standard_library() -> None:
    """Import storyloom.prompting with every non-stdlib import blocked."""
    out = run_python(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class StdlibOnly(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                top = name.split(".")[0]
                if top != "storyloom" and top not in sys.stdlib_module_names:
                    raise ImportError(f"storyloom.prompting imported non-stdlib {name!r}")
                return None

        sys.meta_path.insert(0, StdlibOnly())
        import storyloom.prompting as p
        print(p.render_user_prompt("x").splitlines()[0])
        """
    )
    assert out.strip() == "### System: You are a writer\u2019s assistant."


def test_the_gui_does_load_qt() -> None:
    """Guards the test above against passing because nothing imports Qt at all."""
    pytest.importorskip("PySide6")
    out = run_python("import sys, storyloom.gui.main_window; print('PySide6' in sys.modules)")
    assert out.strip() == "True"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from storyloom import prompting` takes storyloom.prompting, not all of storyloom
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted(APP.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_the_app_never_imports_the_pipeline(path: Path) -> None:
    offending = {m for m in imported_modules(path) if m.split(".")[0] == "storyloom_pipeline"}
    assert not offending


@pytest.mark.parametrize(
    "path", sorted(PIPELINE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_the_pipeline_takes_only_prompting_from_the_app(path: Path) -> None:
    from_app = {m for m in imported_modules(path) if m.split(".")[0] == "storyloom"}
    allowed = {"storyloom.prompting"}
    offending = {m for m in from_app if not any(m == a or m.startswith(a + ".") for a in allowed)}
    assert not offending, f"{path.name} imports {sorted(offending)} from the app"


def test_boundary_scan_sees_real_imports(tmp_path: Path) -> None:
    """The AST scan must catch both import styles, or the two tests above prove nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("import storyloom.core\nfrom storyloom import gui\n", encoding="utf-8")
    assert imported_modules(sample) == {"storyloom.core", "storyloom.gui"}
