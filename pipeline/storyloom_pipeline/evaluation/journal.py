"""The evaluation's journal: SQLite in WAL mode, one committed row per finished item.

An item is one model's reply to one chunk (with its likelihood scores) or one judge verdict.
Its key names everything it depends on (the model's fingerprint, the settings, the prompt),
so a re-run skips exactly what is done under the same conditions and redoes what changed; a
crash or Ctrl+C loses at most the item in progress. The same discipline as the reasoning
stage's journal (`reasoning.journal`): committed with synchronous=FULL before it counts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    finished_at REAL NOT NULL
);
"""


class EvalJournal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EvalJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT payload FROM items WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def has(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM items WHERE key = ?", (key,)).fetchone() is not None

    def record(self, key: str, kind: str, payload: dict[str, Any]) -> None:
        """Commit one finished item (a key already there keeps its first result)."""
        self._db.execute(
            "INSERT OR IGNORE INTO items VALUES (?, ?, ?, ?)",
            (key, kind, json.dumps(payload, ensure_ascii=False), time.time()),
        )

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        """Every finished item of `kind`, oldest first."""
        rows = self._db.execute(
            "SELECT payload FROM items WHERE kind = ? ORDER BY rowid", (kind,)
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM items WHERE kind = ?", (kind,)).fetchone()[0]
