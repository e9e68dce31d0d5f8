"""Build the PyInstaller bundle (as `make package` does) and run the built app's self-test.

About 40 s on two cores, so it runs in `make test` (marked slow): a bundle that builds but
cannot start (a missing Qt plugin, a module PyInstaller did not see) fails here, not on a
writer's machine. PyInstaller comes with the `packaging` extra, which `make test` installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyloom import APP_ID, __version__

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "pyinstaller" / "storyloom.spec"
ML = ("storyloom_pipeline", "torch", "transformers", "peft", "datasets", "gguf", "nltk")
# Qt libraries the app never uses; each would add megabytes (WebEngine alone ~200 MB).
UNUSED_QT = ("WebEngine", "Quick", "Qml", "3D", "Multimedia", "Pdf", "Charts", "Network", "Sql")
SIZE_LIMIT_MB = 250  # ~160 MiB now; torch or QtWebEngine slipping in would blow well past this

pytestmark = pytest.mark.slow


def headless_env() -> dict[str, str]:
    """No display, and a platform the self-test must override: proves it goes offscreen."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyinstaller")
    started = time.perf_counter()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"),
            *("--distpath", str(out / "dist"), "--workpath", str(out / "build"), str(SPEC)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"PyInstaller failed (is the packaging extra installed? pip install -e '.[packaging]')\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    folder = out / "dist" / "storyloom"
    seconds = time.perf_counter() - started
    print(f"bundle built in {seconds:.0f} s: {bundle_size(folder) / 2**20:.0f} MiB")
    return folder


def bundle_size(bundle: Path) -> int:
    """Bytes on disk; PyInstaller links some libraries into _internal/ (counted once)."""
    return sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file() and not f.is_symlink())


def executable(bundle: Path) -> Path:
    return bundle / ("storyloom.exe" if sys.platform == "win32" else "storyloom")


def bundled_files(bundle: Path) -> list[str]:
    return [f.relative_to(bundle).as_posix() for f in bundle.rglob("*") if f.is_file()]


def test_bundle_self_test_passes_without_a_display(bundle: Path) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [str(executable(bundle)), "--self-test"],
        env=headless_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    print(f"bundle self-test: {time.perf_counter() - started:.2f} s\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test: passed" in result.stdout
    assert "offscreen" in result.stdout


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (apt: xvfb xauth)")
def test_bundle_self_test_on_a_real_x_server(bundle: Path) -> None:
    """Qt's -platform option beats the self-test's offscreen default: the xcb plugin loads."""
    result = subprocess.run(
        ["xvfb-run", "-a", str(executable(bundle)), "--self-test", "-platform", "xcb"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", xcb)" in result.stdout


def test_bundle_reports_its_version(bundle: Path) -> None:
    result = subprocess.run(
        [str(executable(bundle)), "--version"],
        env=headless_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"storyloom {__version__}"


def test_bundle_leaves_out_the_pipeline_and_ml_libraries(bundle: Path) -> None:
    from PyInstaller.archive.readers import CArchiveReader

    # Pure-Python modules live in the PYZ archive inside the executable, not as files.
    archive = CArchiveReader(str(executable(bundle))).open_embedded_archive("PYZ.pyz")
    modules = set(archive.toc)
    assert "storyloom.gui.main_window" in modules
    assert "qasync" in modules
    assert not {m for m in modules if m.split(".")[0] in ML}
    files = bundled_files(bundle)
    assert not [f for f in files if any(f"/{name}/" in f"/{f}" for name in ML)]


def test_bundle_leaves_out_unused_qt(bundle: Path) -> None:
    files = bundled_files(bundle)
    qt_libraries = [Path(f).name for f in files if "Qt6" in Path(f).name]
    assert any("Qt6Widgets" in name for name in qt_libraries)
    assert not [n for n in qt_libraries if any(f"Qt6{unused}" in n for unused in UNUSED_QT)]
    pyside = bundle / "_internal" / "PySide6"
    bindings = {p.name.split(".")[0] for p in pyside.iterdir() if p.name.startswith("Qt")}
    assert bindings == {"Qt", "QtCore", "QtGui", "QtWidgets"}  # "Qt" is Qt's own folder


@pytest.mark.skipif(sys.platform != "linux", reason="reads ELF dependencies with ldd")
def test_no_bundled_library_needs_a_pruned_qt_library(bundle: Path) -> None:
    internal = bundle / "_internal"
    search = f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}"
    missing = []
    for library in internal.rglob("*.so*"):
        result = subprocess.run(
            ["ldd", str(library)],
            env={**os.environ, "LD_LIBRARY_PATH": search},
            capture_output=True,
            text=True,
            check=False,
        )
        # System libraries a plugin may use (Wayland, GTK) load only where the system has them.
        missing += [
            f"{library.name}: {line.split()[0]}"
            for line in result.stdout.splitlines()
            if "not found" in line and "Qt6" in line
        ]
    assert not missing


def test_bundle_has_no_dangling_links(bundle: Path) -> None:
    """A link to a pruned library would make the loader fail late, on a writer's machine."""
    assert not [p for p in bundle.rglob("*") if p.is_symlink() and not p.exists()]


def test_bundle_carries_the_package_data(bundle: Path) -> None:
    """Every non-Python file of the package (read via importlib.resources) is in the bundle."""
    package = REPO / "desktop" / "storyloom"
    data = [p.relative_to(package.parent) for p in package.rglob("*") if p.is_file()]
    data = [p for p in data if p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data, "the package has data files (profiles.json) to check"
    assert [p for p in data if not (bundle / "_internal" / p).is_file()] == []


def test_bundle_carries_the_desktop_integration(bundle: Path) -> None:
    share = bundle / "_internal" / "share"
    assert (share / "applications" / f"{APP_ID}.desktop").is_file()
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png").is_file()
    assert (bundle / "_internal" / "LICENSE").is_file()


def test_bundle_size_stays_reasonable(bundle: Path) -> None:
    assert bundle_size(bundle) < SIZE_LIMIT_MB * 2**20, f"{bundle_size(bundle) / 2**20:.0f} MiB"
