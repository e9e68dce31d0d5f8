"""Desktop integration: the .desktop entry, the AppStream metainfo and the icons agree and validate.

The validators are Debian's (desktop-file-utils, appstream). CI installs them and sets
STORYLOOM_REQUIRE_VALIDATORS=1, so there a missing validator fails; elsewhere it skips.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from storyloom import APP_ID, __version__

REPO = Path(__file__).resolve().parents[2]
DESKTOP = REPO / "resources" / "linux" / f"{APP_ID}.desktop"
METAINFO = REPO / "resources" / "linux" / f"{APP_ID}.metainfo.xml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
RAW_URL = "https://raw.githubusercontent.com/storyloom/storyloom/main/"


def load_packaging_module(name: str) -> ModuleType:
    """packaging/ holds scripts, not a package: load one by path."""
    spec = importlib.util.spec_from_file_location(name, REPO / "packaging" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app_icons = load_packaging_module("app_icons")


def validator(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian: apt-get install desktop-file-utils appstream)"
        if os.environ.get("STORYLOOM_REQUIRE_VALIDATORS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.parse(METAINFO).getroot()


# -- the validators ------------------------------------------------------------------------


def test_desktop_entry_passes_desktop_file_validate() -> None:
    result = subprocess.run(
        [validator("desktop-file-validate"), str(DESKTOP)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Warnings and hints print but exit 0: hold the file to no output at all.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_metainfo_passes_appstreamcli_validate() -> None:
    result = subprocess.run(
        [validator("appstreamcli"), "validate", "--no-net", "--explain", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validators_catch_a_broken_file(tmp_path: Path) -> None:
    """Guards the two tests above: the validators must reject what is wrong."""
    bad_desktop = tmp_path / f"{APP_ID}.desktop"
    bad_desktop.write_text(DESKTOP.read_text().replace("Type=Application\n", ""), encoding="utf-8")
    desktop = subprocess.run(
        [validator("desktop-file-validate"), str(bad_desktop)], capture_output=True, check=False
    )
    assert desktop.returncode != 0
    bad_metainfo = tmp_path / METAINFO.name
    bad_metainfo.write_text(METAINFO.read_text().replace("</summary>", ""), encoding="utf-8")
    appstream = subprocess.run(
        [validator("appstreamcli"), "validate", "--no-net", str(bad_metainfo)],
        capture_output=True,
        check=False,
    )
    assert appstream.returncode != 0


# -- one id, one launcher --------------------------------------------------------------------


def test_one_reverse_dns_id_everywhere() -> None:
    root = metainfo()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    assert desktop_entry()["Icon"] == APP_ID
    assert (REPO / "resources" / "icons" / f"{APP_ID}.svg").is_file()


def test_desktop_entry_starts_the_installed_launcher() -> None:
    entry = desktop_entry()
    gui_scripts = PYPROJECT["project"]["gui-scripts"]
    assert entry["Exec"].split()[0] in gui_scripts
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    assert {"Office", "WordProcessor", "Qt"} <= set(entry["Categories"].rstrip(";").split(";"))
    # Qt's X11 WM_CLASS class is the application name (gui/app.py sets it); docks group by it.
    assert entry["StartupWMClass"] == "Storyloom"
    assert metainfo().findtext("provides/binary") in gui_scripts


def test_metainfo_describes_this_release_and_licence() -> None:
    root = metainfo()
    assert root.get("type") == "desktop-application"
    assert root.findtext("project_license") == PYPROJECT["project"]["license"] == "MIT"
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.find("content_rating") is not None
    releases = root.findall("releases/release")
    assert releases[0].get("version") == __version__  # newest first
    assert releases[0].get("date") == "2026-11-25"
    assert root.findtext("url[@type='homepage']", "").startswith("https://")


def test_metainfo_screenshots_are_files_of_this_repository() -> None:
    images = metainfo().findall("screenshots/screenshot/image")
    assert images
    for image in images:
        url = image.text or ""
        assert url.startswith(RAW_URL), url
        path = REPO / url.removeprefix(RAW_URL)
        assert path.is_file(), f"{url} points at no file of the repository"
        size = app_icons.png_size(path.read_bytes())
        assert (int(image.get("width", 0)), int(image.get("height", 0))) == size


# -- icons -----------------------------------------------------------------------------------


def test_svg_master_is_square() -> None:
    root = ET.parse(app_icons.SVG).getroot()
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    assert width == height > 0


@pytest.mark.parametrize("size", app_icons.SIZES)
def test_every_hicolor_png_has_its_size(size: int) -> None:
    assert app_icons.png_size(app_icons.png_path(size).read_bytes()) == (size, size)


def test_png_size_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        app_icons.png_size(b"GIF89a" + bytes(30))


def test_ico_directory_points_at_each_png() -> None:
    pngs = app_icons.committed_pngs()
    data = app_icons.ico_bytes(pngs)
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    expected = [s for s in sorted(pngs) if s <= 256]
    assert count == len(expected)
    for index, size in enumerate(expected):
        width, height, _, _, planes, bits, length, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * index
        )
        assert (width, height) == (size % 256, size % 256)
        assert (planes, bits) == (1, 32)
        assert data[offset : offset + length] == pngs[size]


def test_icns_elements_cover_their_length() -> None:
    pngs = app_icons.committed_pngs()
    data = app_icons.icns_bytes(pngs)
    assert data[:4] == b"icns"
    assert struct.unpack_from(">I", data, 4)[0] == len(data)
    offset, seen = 8, {}
    while offset < len(data):
        kind, length = data[offset : offset + 4], struct.unpack_from(">I", data, offset + 4)[0]
        seen[kind] = data[offset + 8 : offset + length]
        offset += length
    assert offset == len(data)
    assert seen == {kind: pngs[size] for size, kind in app_icons.ICNS_TYPES.items()}


def test_packing_refuses_a_png_of_the_wrong_size() -> None:
    pngs = app_icons.committed_pngs()
    pngs[32] = pngs[16]
    with pytest.raises(ValueError, match="32px"):
        app_icons.ico_bytes(pngs)
    with pytest.raises(ValueError, match="32px"):
        app_icons.icns_bytes(pngs)
