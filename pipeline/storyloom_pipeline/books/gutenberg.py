"""Project Gutenberg file conventions: encodings, header and licence markers, header metadata.

Rules (all variants seen in real files, 1990s to today):

- Bytes are UTF-8 (a BOM is dropped) when they decode as UTF-8, else cp1252 (PG's "-8" files
  are ISO-8859-1, and cp1252 reads every printable latin-1 byte the same while also giving
  0x80-0x9F their curly-quote meaning where a file used them), else latin-1. CRLF and lone
  CR become LF.
- The body starts after the START marker: `*** START OF THE PROJECT GUTENBERG EBOOK …`,
  `*** START OF THIS …`, `***START OF THE …***` without spaces, a marker wrapped over two
  lines, or the 1990s `*END*THE SMALL PRINT!…` line.
- The body ends at the first END marker: `*** END OF THE/THIS …`, `***END OF …`, or an older
  `End of the Project Gutenberg EBook of …` / `End of Project Gutenberg's …` line, whichever
  comes first.
- Title, author, language and ebook number come from the header's `Title:`, `Author:`,
  `Language:` fields and its `[EBook #N]`; a field wrapped onto indented lines continues
  (a title's second line is a subtitle, joined with ": "). Without fields, the first line
  (`The Project Gutenberg EBook of TITLE, by AUTHOR`) is used.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

START_MARKER = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)"
    r"|\*END\*THE SMALL PRINT!).*$",
    re.MULTILINE | re.IGNORECASE,
)
END_MARKER = re.compile(
    r"^[ \t]*(?:\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)"
    r"|End of (?:the |this )?Project Gutenberg)",
    re.MULTILINE | re.IGNORECASE,
)
_FIELD = re.compile(r"^([A-Za-z][A-Za-z ]{0,30}):[ \t]*(.*)$")
_EBOOK_NUMBER = re.compile(r"\[\s*E-?(?:BOOK|TEXT)\s*#\s*(\d+)\s*\]|E-?BOOK\s*#\s*(\d+)", re.I)
_FIRST_LINE = re.compile(
    r"Project Gutenberg(?:['’]s)?(?:\s+E-?(?:Book|text)\s+of)?\s+(?P<title>.+?)"
    r"(?:,\s+by\s+(?P<author>.+))?$",
    re.IGNORECASE,
)
# A marker wrapped over lines ends with "***" on a later line; look this far for it.
_MARKER_CONTINUATION_LINES = 2


def decode_text(data: bytes) -> str:
    """Decode a PG file's bytes (see the module docstring) and normalise line endings to LF."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for encoding in ("utf-8", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class GutenbergParts:
    header: str
    body: str
    has_markers: bool


def split_gutenberg(text: str) -> GutenbergParts:
    """Split a decoded PG text into header and body; the licence footer is dropped.

    `has_markers` is False when there is no START marker; the whole text is then the body.
    """
    start = START_MARKER.search(text)
    if start is None:
        end = END_MARKER.search(text)
        return GutenbergParts(
            header="", body=text[: end.start() if end else len(text)], has_markers=False
        )
    body_start = _after_marker(text, start)
    end = END_MARKER.search(text, body_start)
    body_end = end.start() if end else len(text)
    return GutenbergParts(
        header=text[: start.start()], body=text[body_start:body_end], has_markers=True
    )


def _after_marker(text: str, marker: re.Match[str]) -> int:
    """Where the body begins: after the marker line, or after the line that closes a marker
    wrapped over several lines (`***START OF … ADVENTURES OF` / `ROBINSON CRUSOE***`)."""
    position = marker.end()
    line = marker.group().rstrip()
    if "SMALL PRINT" in line.upper() or line.endswith("***"):
        return _next_line(text, position)
    probe = position
    for _ in range(_MARKER_CONTINUATION_LINES):
        probe = _next_line(text, probe)
        line_end = text.find("\n", probe)
        line_end = len(text) if line_end == -1 else line_end
        if text[probe:line_end].rstrip().endswith("***"):
            return _next_line(text, line_end)
    return _next_line(text, position)


def _next_line(text: str, position: int) -> int:
    newline = text.find("\n", position)
    return len(text) if newline == -1 else newline + 1


@dataclass(frozen=True)
class HeaderMetadata:
    ebook_id: str
    title: str
    author: str
    language: str


def parse_header(header: str) -> HeaderMetadata:
    """Read title, author, language and ebook number from a PG header (empty when absent)."""
    fields = _header_fields(header)
    title = fields.get("title", "")
    author = fields.get("author", "")
    if not title:
        first = _first_line_metadata(header)
        title, author = first or ("", author)
    number = _EBOOK_NUMBER.search(header)
    ebook_id = next((g for g in number.groups() if g), "") if number else ""
    return HeaderMetadata(
        ebook_id=ebook_id, title=title, author=author, language=fields.get("language", "")
    )


def _header_fields(header: str) -> dict[str, str]:
    """`Name: value` fields; indented lines right below a field continue it."""
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in header.split("\n"):
        match = _FIELD.match(line)
        if match:
            current = fields.setdefault(match.group(1).strip().lower(), [])
            if match.group(2).strip():
                current.append(match.group(2).strip())
        elif current is not None and line[:1] in (" ", "\t") and line.strip():
            current.append(line.strip())
        else:
            current = None
    joined = {}
    for name, parts in fields.items():
        # a title's continuation line is its subtitle; other fields just wrapped
        joined[name] = (": " if name == "title" else " ").join(parts)
    return joined


def _first_line_metadata(header: str) -> tuple[str, str] | None:
    for line in header.split("\n"):
        if line.strip():
            match = _FIRST_LINE.search(line.strip())
            if match:
                return match.group("title").strip(), (match.group("author") or "").strip()
            return None
    return None
