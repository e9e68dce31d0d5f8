"""Manuscripts as bytes on disk: which encoding, which line endings, and what is not text at all.

Reading accepts what writers actually have: UTF-8 (with or without a byte-order mark), UTF-16
with a BOM (Windows Notepad's "Unicode"), and old 8-bit files, read as Windows-1252 or, where a
byte is undefined there, Latin-1 — with a notice, because that is a guess. Writing is always
UTF-8 in the file's own line endings, so a manuscript that was UTF-8 comes back byte for byte.

One stray byte must not decide how a whole manuscript is read. A UTF-8 file with a few bytes
that are not UTF-8 (a passage pasted from an old program, a character cut in half) stays UTF-8:
only those bytes are read as Windows-1252, and a notice says how many and on which lines. Which
reading wins is a count: Windows-1252 prose almost never forms a valid UTF-8 character by chance
(that takes an accented capital or "ß" right before a symbol such as a curly quote), while
reading UTF-8 as Windows-1252 garbles every one of its accented letters and quotes. So a file is
read as UTF-8 when it has at least as many valid multi-byte UTF-8 characters as stray bytes.

The editor only ever sees "\n": `decode()` normalises line endings and `encode()` restores the
file's own. A file with mixed line endings is saved with the one it used most (and says so).
"""

from __future__ import annotations

import codecs
import enum
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from storyloom.core.disk_state import Fingerprint
from storyloom.core.wording import counted

# Files above this size are opened only when the writer says so (a novel is a few MB at most).
LARGE_FILE_BYTES = 50 * 1024 * 1024

# Characters that appear in real prose files; any other control character counts towards
# "this is not text". Form feed is in old Gutenberg files, ESC in terminal captures.
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1b")
_BINARY_SAMPLE = 65536  # characters looked at
_BINARY_CONTROL_SHARE = 0.01  # more control characters than this share: binary...
_BINARY_CONTROL_MIN = 4  # ...if there are at least this many (a stray one in a note is not)

_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with byte-order mark",
    "utf-16-le": "UTF-16 (little-endian)",
    "utf-16-be": "UTF-16 (big-endian)",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1 (ISO-8859-1)",
}
_NEWLINE_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
# A byte that is not UTF-8, as the "surrogateescape" error handler leaves it in the text.
_STRAY_BYTE = re.compile("[\udc80-\udcff]")
_ASCII_BYTES = bytes(range(0x80))
_STRAY_LINES_NAMED = 5  # a notice names this many of the lines with stray bytes


@dataclass(frozen=True, slots=True)
class TextFormat:
    """How a manuscript was stored: what `encode()` needs to write it back the same way."""

    encoding: str = "utf-8"  # as read; a key of _ENCODING_NAMES
    newline: str = "\n"
    mixed_newlines: bool = False  # the file used more than one kind; `newline` is the commonest
    stray_bytes: int = 0  # bytes of a UTF-8 file that were not UTF-8, read as Windows-1252
    stray_lines: tuple[int, ...] = ()  # the lines they are on (1 is the first)

    @property
    def encoding_name(self) -> str:
        return _ENCODING_NAMES[self.encoding]

    @property
    def newline_name(self) -> str:
        return _NEWLINE_NAMES[self.newline]

    @property
    def is_guess(self) -> bool:
        """Read with an 8-bit fallback: the characters may not be what the author typed."""
        return self.encoding in ("cp1252", "latin-1")

    @property
    def needs_checking(self) -> bool:
        """Some characters were guessed (the whole file, or its stray bytes): warn."""
        return self.is_guess or self.stray_bytes > 0

    @property
    def writes_bom(self) -> bool:
        # Keep a UTF-8 BOM where there was one (some Windows tools look for it).
        return self.encoding == "utf-8-sig"

    def notice(self, name: str) -> str | None:
        """What the writer should know about opening `name` (a file name), or None."""
        parts = []
        if self.is_guess:
            parts.append(
                f"“{name}” is not UTF-8; Storyloom read it as {self.encoding_name}. Check "
                "accented letters and quotation marks. Saving writes UTF-8."
            )
        elif self.encoding.startswith("utf-16"):
            parts.append(f"“{name}” is {self.encoding_name}. Saving writes UTF-8.")
        if self.stray_bytes:
            one = self.stray_bytes == 1
            parts.append(
                f"“{name}” is UTF-8 except for {counted(self.stray_bytes, 'byte')} "
                f"{_on_lines(self.stray_lines)}; Storyloom read {'it' if one else 'them'} as "
                "Windows-1252. Check the characters there. Saving writes UTF-8."
            )
        if self.mixed_newlines:
            parts.append(
                f"“{name}” mixes line endings; saving uses {self.newline_name} throughout."
            )
        return " ".join(parts) or None

    def saved_as_utf8(self) -> TextFormat:
        """This format after a save: the same line endings, in UTF-8 (stray bytes and all)."""
        encoding = "utf-8-sig" if self.writes_bom else "utf-8"
        return TextFormat(encoding, self.newline)


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str  # line endings normalised to "\n"
    format: TextFormat


@dataclass(frozen=True, slots=True)
class LoadedFile:
    text: str  # line endings normalised to "\n"
    format: TextFormat
    fingerprint: Fingerprint  # of the bytes read, to notice changes made elsewhere later


class ProblemKind(enum.Enum):
    NOT_FOUND = "not found"
    NOT_A_FILE = "not a file"
    PERMISSION = "permission denied"
    TOO_LARGE = "too large"
    BINARY = "binary"
    UNREADABLE = "unreadable"


class FileProblem(Exception):
    """A file that cannot be opened as a manuscript; `str()` is the message for the writer."""

    def __init__(self, kind: ProblemKind, message: str, *, size: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.size = size


def decode(data: bytes, name: str = "the file") -> DecodedText:
    """The text in `data`; raises FileProblem(BINARY) when it is not text."""
    encoding, text, has_stray_bytes = _decode_bytes(data, name)
    newline, mixed = _dominant_newline(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    stray_bytes, stray_lines = 0, ()
    if has_stray_bytes:
        text, stray_bytes, stray_lines = _read_stray_bytes(text)
    if _looks_binary(text):  # as read: stray bytes count as the characters they became
        raise FileProblem(ProblemKind.BINARY, _binary_message(name))
    return DecodedText(text, TextFormat(encoding, newline, mixed, stray_bytes, stray_lines))


def encode(text: str, text_format: TextFormat) -> bytes:
    """`text` ("\n" line endings) as the bytes to save: UTF-8 in the format's line endings."""
    if text_format.newline != "\n":
        text = text.replace("\n", text_format.newline)
    data = text.encode("utf-8")
    return codecs.BOM_UTF8 + data if text_format.writes_bom else data


def read_manuscript(path: Path, *, allow_large: bool = False) -> LoadedFile:
    """Read and decode `path`; raises FileProblem with a message fit for the writer.

    Files over LARGE_FILE_BYTES raise FileProblem(TOO_LARGE) unless `allow_large`: ask first.
    """
    name = path.name
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a folder, a pipe, a device: reading could hang
            raise FileProblem(ProblemKind.NOT_A_FILE, f"“{name}” is not a file.")
        if info.st_size > LARGE_FILE_BYTES and not allow_large:
            raise FileProblem(
                ProblemKind.TOO_LARGE,
                f"“{name}” is {info.st_size / 1024**2:,.0f} MB, far more than a manuscript "
                "usually is. Opening it may make Storyloom slow.",
                size=info.st_size,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise _problem_reading(path, exc) from exc
    decoded = decode(data, name)
    return LoadedFile(decoded.text, decoded.format, Fingerprint.of(info, data))


def _problem_reading(path: Path, exc: OSError) -> FileProblem:
    """The writer's message for an OSError raised while reading `path`."""
    name = path.name
    if isinstance(exc, FileNotFoundError):
        return FileProblem(ProblemKind.NOT_FOUND, f"“{name}” was not found at {path.parent}.")
    if isinstance(exc, PermissionError):
        return FileProblem(
            ProblemKind.PERMISSION,
            f"Storyloom is not allowed to read “{name}” (permission denied). Check the file's "
            "permissions, or copy it somewhere you own.",
        )
    if isinstance(exc, IsADirectoryError):
        return FileProblem(ProblemKind.NOT_A_FILE, f"“{name}” is a folder, not a file.")
    reason = exc.strerror or str(exc)
    return FileProblem(ProblemKind.UNREADABLE, f"“{name}” could not be read: {reason}.")


# -- detection -------------------------------------------------------------------------------


def _decode_bytes(data: bytes, name: str) -> tuple[str, str, bool]:
    """(encoding, text, whether the text may hold stray bytes): BOMs first, then UTF-8, then
    the 8-bit fallbacks. Stray bytes of a UTF-8 text are surrogate escapes there, for
    `_read_stray_bytes()`."""
    if data.startswith(codecs.BOM_UTF8):  # the file says it is UTF-8: a stray byte is a stray
        return "utf-8-sig", data[len(codecs.BOM_UTF8) :].decode("utf-8", "surrogateescape"), True
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return encoding, _strict(data[len(bom) :], encoding, name), False
    if b"\x00" in data:  # no text encoding we read puts NUL bytes in prose
        raise FileProblem(ProblemKind.BINARY, _binary_message(name))
    try:  # the common case, in one fast pass
        return "utf-8", data.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "surrogateescape")
    stray = len(_STRAY_BYTE.findall(text))
    # ASCII bytes are characters of their own in either reading; the rest of the text is
    # multi-byte characters and stray bytes.
    non_ascii = len(text) - (len(data) - len(data.translate(None, _ASCII_BYTES)))
    if non_ascii - stray >= stray:
        return "utf-8", text, True
    try:
        return "cp1252", data.decode("cp1252"), False
    except UnicodeDecodeError:  # one of the five bytes cp1252 leaves undefined
        return "latin-1", data.decode("latin-1"), False


def _read_stray_bytes(text: str) -> tuple[str, int, tuple[int, ...]]:
    """`text` with each stray byte read as Windows-1252 (Latin-1 where that leaves it
    undefined), how many there were, and the lines they are on."""
    lines: list[int] = []
    line, counted_to, count = 1, 0, 0
    for match in _STRAY_BYTE.finditer(text):
        count += 1
        line += text.count("\n", counted_to, match.start())
        counted_to = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    if not count:
        return text, 0, ()
    repaired = _STRAY_BYTE.sub(lambda m: _byte_as_8bit(ord(m.group()) - 0xDC00), text)
    return repaired, count, tuple(lines)


def _byte_as_8bit(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(byte)  # Latin-1


def _strict(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileProblem(
            ProblemKind.UNREADABLE,
            f"“{name}” starts with a {_ENCODING_NAMES[encoding]} byte-order mark, but byte "
            f"{exc.start} is not valid {_ENCODING_NAMES[encoding]}; the file may be damaged.",
        ) from exc


def _looks_binary(text: str) -> bool:
    sample = text[:_BINARY_SAMPLE]
    if not sample:
        return False
    if "\x00" in sample:
        return True
    controls = sum(
        1
        for char in sample
        if (char < " " and char not in _TEXT_CONTROLS) or "\x7f" <= char <= "\x9f"
    )
    return controls >= _BINARY_CONTROL_MIN and controls > len(sample) * _BINARY_CONTROL_SHARE


def _binary_message(name: str) -> str:
    return (
        f"“{name}” does not look like text (it may be a word-processor document, an image or "
        "an archive). Storyloom opens plain-text manuscripts (.txt, .md); export the story "
        "as plain text and open that."
    )


def _on_lines(lines: tuple[int, ...]) -> str:
    named = [str(line) for line in lines[:_STRAY_LINES_NAMED]]
    if len(lines) == 1:
        return f"on line {named[0]}"
    if len(lines) > len(named):
        return f"on lines {', '.join(named)} and {len(lines) - len(named):,} more"
    return f"on lines {', '.join(named[:-1])} and {named[-1]}"


def _dominant_newline(text: str) -> tuple[str, bool]:
    """The commonest line ending (LF when there is none) and whether several kinds occur."""
    crlf = text.count("\r\n")
    counts = {"\r\n": crlf, "\n": text.count("\n") - crlf, "\r": text.count("\r") - crlf}
    used = [newline for newline, count in counts.items() if count]
    if not used:
        return "\n", False
    return max(used, key=lambda newline: counts[newline]), len(used) > 1
