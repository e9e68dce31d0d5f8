"""Storyloom's icon in every size and container the three platforms want, from one SVG master.

    python packaging/app_icons.py                   # re-render the committed hicolor PNGs (Qt)
    python packaging/app_icons.py --ico X --icns Y  # pack those PNGs for Windows / macOS

The PNGs are committed because the desktop entry, the Flatpak and the metainfo use them as they
are; the .ico and .icns are build outputs (the PyInstaller spec writes them into its work
folder), packed here with the standard library only so that no image library is needed.
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

from storyloom import APP_ID

REPO = Path(__file__).resolve().parents[1]
ICONS = REPO / "resources" / "icons"
SVG = ICONS / f"{APP_ID}.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# ICNS element types that hold PNG data (macOS 10.7+), by pixel size. 24 and 48 have none.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def png_path(size: int) -> Path:
    """Where the hicolor theme (and so the desktop entry's Icon=) expects a size."""
    return ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (always the first chunk)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def committed_pngs() -> dict[int, bytes]:
    return {size: png_path(size).read_bytes() for size in SIZES}


def render_png(svg: Path, size: int) -> bytes:
    """Render the SVG to a square PNG with Qt's SVG renderer (needs a QGuiApplication)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def ico_bytes(pngs: Mapping[int, bytes]) -> bytes:
    """A Windows .ico whose images are PNGs (Vista+), one per size up to 256."""
    images = [(size, data) for size, data in sorted(pngs.items()) if size <= 256]
    header = struct.pack("<HHH", 0, 1, len(images))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in images:
        if png_size(data) != (size, size):
            raise ValueError(f"the {size}px image is {png_size(data)}")
        # Width and height are one byte each; 0 means 256.
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def icns_bytes(pngs: Mapping[int, bytes]) -> bytes:
    """A macOS .icns of PNG elements for the sizes it has a type for."""
    body = b""
    for size, data in sorted(pngs.items()):
        if size in ICNS_TYPES:
            if png_size(data) != (size, size):
                raise ValueError(f"the {size}px image is {png_size(data)}")
            body += ICNS_TYPES[size] + struct.pack(">I", 8 + len(data)) + data
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def render_committed_pngs() -> list[Path]:
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication([])  # QPainter needs one
    written = []
    for size in SIZES:
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_png(SVG, size))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ico", type=Path, help="write a Windows .ico here")
    parser.add_argument("--icns", type=Path, help="write a macOS .icns here")
    args = parser.parse_args(argv)
    if args.ico is None and args.icns is None:
        for path in render_committed_pngs():
            print(f"wrote {path.relative_to(REPO)}")
        return 0
    pngs = committed_pngs()
    for path, pack in ((args.ico, ico_bytes), (args.icns, icns_bytes)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pack(pngs))
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
