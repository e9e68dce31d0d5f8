"""Project Gutenberg through the Gutendex catalogue API (https://gutendex.com), politely.

- Catalogue: `GET /books?languages=en&copyright=false&topic=…&search=…&ids=…`, following the
  `next` links page by page. Only public-domain entries (`"copyright": false`) with a plain-text
  format are yielded; the catalogue is asked for them too.
- Texts: the entry's `text/plain` URL (UTF-8 preferred, never a .zip), downloaded with httpx.
- Politeness: at most one request per `min_interval` seconds; 429 and 5xx answers and
  connection errors are retried up to `retries` times, waiting as `Retry-After` says (capped)
  or with exponential backoff.
- Cache: every catalogue page and every text is kept under `cache_dir` and never fetched twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from storyloom_pipeline import __version__
from storyloom_pipeline.books.load import book_from_bytes
from storyloom_pipeline.books.model import Book
from storyloom_pipeline.books.store import PendingBooks
from storyloom_pipeline.retry_after import parse_retry_after

DEFAULT_URL = "https://gutendex.com"
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_TEXT_FORMATS = (
    "text/plain; charset=utf-8",
    "text/plain; charset=us-ascii",
    "text/plain",
)  # preferred


class GutendexError(RuntimeError):
    """The catalogue or a text could not be fetched (after retries)."""


@dataclass(frozen=True)
class GutendexQuery:
    search: str | None = None
    topic: str | None = None
    languages: tuple[str, ...] = ("en",)
    ids: tuple[int, ...] = ()

    def params(self) -> dict[str, str]:
        params = {"copyright": "false"}
        if self.languages:
            params["languages"] = ",".join(self.languages)
        if self.search:
            params["search"] = self.search
        if self.topic:
            params["topic"] = self.topic
        if self.ids:
            params["ids"] = ",".join(map(str, self.ids))
        return params


@dataclass(frozen=True)
class CatalogueEntry:
    ebook_id: int
    title: str
    authors: tuple[str, ...]
    languages: tuple[str, ...]
    subjects: tuple[str, ...]  # subjects and bookshelves
    text_url: str

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> CatalogueEntry | None:
        """None for an entry that is not public domain or has no plain text."""
        if record.get("copyright") is not False:
            return None
        url = _plain_text_url(record.get("formats") or {})
        if url is None:
            return None
        return cls(
            ebook_id=int(record["id"]),
            title=record.get("title") or "",
            authors=tuple(a.get("name", "") for a in record.get("authors") or ()),
            languages=tuple(record.get("languages") or ()),
            subjects=tuple(record.get("subjects") or ()) + tuple(record.get("bookshelves") or ()),
            text_url=url,
        )


def _catalogue_page(url: str, data: bytes) -> None:
    try:
        page = json.loads(data)
    except ValueError as exc:
        raise GutendexError(f"{url}: not a catalogue page ({exc})") from exc
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise GutendexError(f"{url}: not a catalogue page (no results)")


def _plain_text_url(formats: dict[str, str]) -> str | None:
    urls = {
        kind: url
        for kind, url in formats.items()
        if kind.startswith("text/plain") and not url.endswith(".zip")
    }
    preferred = next((kind for kind in _TEXT_FORMATS if kind in urls), None)
    return urls[preferred] if preferred else next(iter(urls.values()), None)


class GutendexClient:
    def __init__(
        self,
        cache_dir: Path,
        base_url: str = DEFAULT_URL,
        *,
        min_interval: float = 1.0,
        retries: int = 5,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        timeout: float = 60.0,
    ) -> None:
        self.cache_dir = cache_dir
        self.base_url = base_url.rstrip("/")
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self._last_request = float("-inf")
        self._http = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": f"storyloom-pipeline/{__version__} (polite; cached)"},
        )

    def __enter__(self) -> GutendexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def search(self, query: GutendexQuery, limit: int | None = None) -> Iterator[CatalogueEntry]:
        """Public-domain catalogue entries with plain text, page after page, up to `limit`."""
        url: str | None = f"{self.base_url}/books?" + str(httpx.QueryParams(query.params()))
        found = 0
        while url and (limit is None or found < limit):
            page = json.loads(self._cached("catalogue", url, ".json", check=_catalogue_page))
            for record in page.get("results", ()):
                entry = CatalogueEntry.from_json(record)
                if entry is None:
                    continue
                yield entry
                found += 1
                if limit is not None and found >= limit:
                    return
            url = page.get("next")

    def fetch_text(self, entry: CatalogueEntry) -> bytes:
        return self._cached("texts", entry.text_url, ".txt", name=str(entry.ebook_id))

    def _cached(
        self,
        kind: str,
        url: str,
        suffix: str,
        *,
        name: str | None = None,
        check: Callable[[str, bytes], None] | None = None,
    ) -> bytes:
        """The answer for `url`, from the cache or fetched and kept; `check` raises on an
        answer not worth keeping."""
        name = name or hashlib.sha256(url.encode()).hexdigest()[:24]
        path = self.cache_dir / kind / f"{name}{suffix}"
        if path.is_file():
            return path.read_bytes()
        data = self._get(url).content
        if check:
            check(url, data)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(path)
        return data

    def _get(self, url: str) -> httpx.Response:
        problem = ""
        for attempt in range(self.retries + 1):
            self._wait_turn()
            try:
                response = self._http.get(url)
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", self._backoff(attempt)
            else:
                if response.status_code not in _RETRY_STATUSES:
                    if response.is_error:
                        raise GutendexError(f"{url}: HTTP {response.status_code}")
                    return response
                problem = f"HTTP {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                wait = self._backoff(attempt) if retry_after is None else retry_after
            if attempt < self.retries:
                time.sleep(min(wait, self.max_wait))
        raise GutendexError(f"{url}: {problem} after {self.retries + 1} attempts")

    def _wait_turn(self) -> None:
        pause = self._last_request + self.min_interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._last_request = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        return self.backoff * 2**attempt


def gutendex_books(
    client: GutendexClient,
    query: GutendexQuery,
    *,
    limit: int | None = None,
    keep_unmarked: bool = False,
) -> PendingBooks:
    """The query's books; each text is fetched (or taken from the cache) only when cleaned."""
    for entry in client.search(query, limit):

        def make(entry: CatalogueEntry = entry) -> Book:
            return book_from_bytes(
                client.fetch_text(entry),
                fallback_id=str(entry.ebook_id),
                source=entry.text_url,
                keep_unmarked=keep_unmarked,
                title=entry.title,
                author=", ".join(entry.authors),
                language=", ".join(entry.languages),
                subjects=entry.subjects,
            )

        yield f"gutendex:{entry.ebook_id}", make
