"""Progress of a publish: status lines, and a byte bar per file being hashed, uploaded or pushed."""

from __future__ import annotations

import sys
from typing import IO, Protocol

from tqdm import tqdm


class Progress(Protocol):
    def status(self, text: str) -> None: ...

    def transfer(self, key: str, label: str, completed: int, total: int) -> None:
        """`completed` of `total` bytes of the transfer `key` (a file, a layer) are done."""

    def close(self) -> None: ...


class TqdmProgress:
    """tqdm bars on stderr (or `file`); they disable themselves when it is not a terminal
    (`disable=None`) unless `disable=False` is given, and status lines are always printed."""

    def __init__(self, file: IO[str] | None = None, *, disable: bool | None = None) -> None:
        self._file = file
        self._disable = disable
        self._bars: dict[str, tqdm] = {}

    def status(self, text: str) -> None:
        tqdm.write(text, file=self._file or sys.stderr)  # tqdm.write's default is stdout

    def transfer(self, key: str, label: str, completed: int, total: int) -> None:
        bar = self._bars.get(key)
        if bar is None:
            bar = tqdm(
                desc=label,
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self._file,
                disable=self._disable,
                leave=True,
            )
            self._bars[key] = bar
        bar.update(max(0, completed - bar.n))
        if completed >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


class SilentProgress:
    def status(self, text: str) -> None:
        pass

    def transfer(self, key: str, label: str, completed: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass
