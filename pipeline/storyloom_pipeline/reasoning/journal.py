"""The reasoning journal: SQLite in WAL mode, one committed row per finished chunk.

A result counts as done only once its transaction has committed (synchronous=FULL: the WAL is
fsynced at every commit), and `results.key` (chunk id + prompt hash) is the primary key, so a
re-run skips what is done, a crash or SIGKILL loses at most the requests then in flight, and no
chunk can ever be there twice. `record_many` commits several results in one transaction (one
fsync); the runner uses it for group commit, off the event loop, so every method holds a lock:
the connection may be used from a worker thread and the loop's thread. Rejected raw outputs
and exhausted failures are kept beside the results for inspection; neither counts as done.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    chunk_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    split TEXT NOT NULL,
    guidance TEXT,
    monologue TEXT NOT NULL,
    model TEXT NOT NULL,
    served_model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL,
    requests INTEGER NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost REAL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Result:
    key: str
    chunk_id: str
    mode: str
    split: str
    guidance: str | None
    monologue: str
    model: str  # the teacher asked for (part of the key)
    served_model: str  # the model that answered, as the server names it
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    requests: int


@dataclass(frozen=True)
class Spend:
    prompt_tokens: int
    completion_tokens: int
    cost: float
    cost_known: bool  # False when some call reported no cost


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_keys(self) -> set[str]:
        with self._lock:
            return {key for (key,) in self._db.execute("SELECT key FROM results")}

    def record(self, result: Result) -> bool:
        """Commit `result`; False (and nothing written) when its key is already done."""
        return self.record_many([result])[0]

    def record_many(self, results: Sequence[Result]) -> list[bool]:
        """Commit `results` in one transaction (one fsync); for each, False when its key was
        already done. All or none: on an error nothing is written and it propagates."""
        now = time.time()
        inserted = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for result in results:
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            result.key,
                            result.chunk_id,
                            result.mode,
                            result.split,
                            result.guidance,
                            result.monologue,
                            result.model,
                            result.served_model,
                            result.prompt_tokens,
                            result.completion_tokens,
                            result.cost,
                            result.requests,
                            now,
                        ),
                    )
                    inserted.append(cursor.rowcount == 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return inserted

    def reject(
        self,
        key: str,
        chunk_id: str,
        stage: str,
        reason: str,
        raw: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost: float | None,
    ) -> None:
        row = (key, chunk_id, stage, reason, raw, model, prompt_tokens, completion_tokens, cost)
        with self._lock:
            self._db.execute(
                "INSERT INTO rejected (key, chunk_id, stage, reason, raw, model, prompt_tokens,"
                " completion_tokens, cost, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*row, time.time()),
            )

    def fail(self, key: str, chunk_id: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO failures (key, chunk_id, error, at) VALUES (?,?,?,?)",
                (key, chunk_id, error, time.time()),
            )

    def results(self) -> Iterator[Result]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, chunk_id, mode, split, guidance, monologue, model, served_model,"
                " prompt_tokens, completion_tokens, cost, requests FROM results ORDER BY rowid"
            ).fetchall()
        for row in rows:
            yield Result(*row)

    def rejected(self) -> list[tuple[str, str, str]]:
        """(chunk_id, reason, raw) of every rejected output, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT chunk_id, reason, raw FROM rejected ORDER BY id"
            ).fetchall()

    def spend(self) -> Spend:
        """Tokens and cost of every call that returned an answer, accepted or rejected."""
        totals = [0, 0, 0.0, True]
        for table in ("results", "rejected"):
            with self._lock:
                row = self._db.execute(
                    f"SELECT COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0),"
                    f" COALESCE(SUM(cost),0), COUNT(*) - COUNT(cost) FROM {table}"
                ).fetchone()
            totals[0] += row[0]
            totals[1] += row[1]
            totals[2] += row[2]
            totals[3] = totals[3] and row[3] == 0
        return Spend(int(totals[0]), int(totals[1]), float(totals[2]), bool(totals[3]))

    def models(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT served_model FROM results ORDER BY 1")
            return [m for (m,) in rows]
