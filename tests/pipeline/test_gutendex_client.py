"""Gutendex against a local test server: pagination, public-domain plain text only, retries,
rate limiting, and a cache that means nothing is fetched twice."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from storyloom_pipeline.books import read_book
from storyloom_pipeline.books.gutendex import (
    GutendexClient,
    GutendexError,
    GutendexQuery,
    gutendex_books,
)
from storyloom_pipeline.cli import main
from storyloom_pipeline.retry_after import parse_retry_after


def pg_file(title: str, number: int) -> bytes:
    return (
        f"The Project Gutenberg eBook of {title}\n\nTitle: {title}\n\nAuthor: Ann Example\n\n"
        f"Release date: May 1, 2001 [eBook #{number}]\n\nLanguage: English\n\n"
        f"*** START OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\n"
        "The lamps of the street came alight one by one behind the old lamplighter, who went\n"
        "on down the hill with his ladder and his little can of oil, singing to himself.\n\n"
        f"*** END OF THE PROJECT GUTENBERG EBOOK {title.upper()} ***\n\nSection 1. Licence\n"
    ).encode()


class FakeGutendex:
    """Two catalogue pages; texts under /files/. `failures` scripts error answers per path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.queries: list[dict[str, list[str]]] = []
        self.failures: dict[str, list[tuple[int, str | None]]] = {}
        self.garbage: set[str] = set()  # paths answered once with an HTML page
        self.texts = {
            "/files/1.txt": pg_file("First Book", 1),
            "/files/4.txt": pg_file("Fourth Book", 4),
        }
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def entry(self, number: int, copyright: bool | None, formats: dict[str, str]) -> dict:
        return {
            "id": number,
            "title": f"Book {number}",
            "authors": [{"name": "Example, Ann", "birth_year": 1800, "death_year": 1870}],
            "subjects": ["Lamplighters -- Fiction"],
            "bookshelves": ["Best Books Ever Listings"],
            "languages": ["en"],
            "copyright": copyright,
            "media_type": "Text",
            "formats": formats,
        }

    def page(self, number: int) -> dict:
        text = "text/plain; charset=utf-8"
        if number == 1:
            results = [
                self.entry(
                    1, False, {text: f"{self.url}/files/1.txt", "application/epub+zip": "x"}
                ),
                self.entry(2, True, {text: f"{self.url}/files/2.txt"}),  # still in copyright
                self.entry(3, False, {"text/plain": f"{self.url}/files/3.zip"}),  # zip only
            ]
            following = f"{self.url}/books?copyright=false&languages=en&page=2"
        else:
            ascii_text = "text/plain; charset=us-ascii"
            results = [
                self.entry(4, False, {ascii_text: f"{self.url}/files/4.txt"}),
                self.entry(5, False, {text: f"{self.url}/files/5.txt"}),  # the server lost it
            ]
            following = None
        return {"count": 5, "next": following, "previous": None, "results": results}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fake.hits[parts.path] += 1
                planned = fake.failures.get(parts.path)
                if planned:
                    status, retry_after = planned.pop(0)
                    self.send_response(status)
                    if retry_after is not None:
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parts.path in fake.garbage:
                    fake.garbage.discard(parts.path)
                    body = b"<html>Service briefly unavailable</html>"
                elif parts.path == "/books":
                    query = parse_qs(parts.query)
                    fake.queries.append(query)
                    body = json.dumps(fake.page(int(query.get("page", ["1"])[0]))).encode()
                elif parts.path in fake.texts:
                    body = fake.texts[parts.path]
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> FakeGutendex:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gutendex() -> Iterator[FakeGutendex]:
    with FakeGutendex() as fake:
        yield fake


def client(fake: FakeGutendex, cache: Path, **options: float) -> GutendexClient:
    settings = {"min_interval": 0.0, "backoff": 0.01, **options}
    return GutendexClient(cache, fake.url, **settings)


def test_search_follows_pages_and_keeps_public_domain_plain_text(
    gutendex: FakeGutendex, tmp_path: Path
) -> None:
    with client(gutendex, tmp_path) as gutenberg:
        entries = list(gutenberg.search(GutendexQuery(topic="fiction")))
    assert [entry.ebook_id for entry in entries] == [1, 4, 5]
    assert entries[0].text_url.endswith("/files/1.txt")
    assert entries[0].authors == ("Example, Ann",)
    assert entries[0].subjects == ("Lamplighters -- Fiction", "Best Books Ever Listings")
    first_query = gutendex.queries[0]
    assert first_query["copyright"] == ["false"]
    assert first_query["languages"] == ["en"]
    assert first_query["topic"] == ["fiction"]
    assert gutendex.hits["/books"] == 2


def test_limit_stops_paging(gutendex: FakeGutendex, tmp_path: Path) -> None:
    with client(gutendex, tmp_path) as gutenberg:
        assert [entry.ebook_id for entry in gutenberg.search(GutendexQuery(), limit=1)] == [1]
    assert gutendex.hits["/books"] == 1


def test_retries_wait_as_the_server_says_then_succeed(
    gutendex: FakeGutendex, tmp_path: Path
) -> None:
    gutendex.failures["/files/1.txt"] = [(503, "1"), (429, "0"), (502, None)]
    with client(gutendex, tmp_path) as gutenberg:
        entry = next(gutenberg.search(GutendexQuery()))
        started = time.monotonic()
        data = gutenberg.fetch_text(entry)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert data == gutendex.texts["/files/1.txt"]
    assert gutendex.hits["/files/1.txt"] == 4


def test_gives_up_after_the_last_retry_and_never_retries_a_404(
    gutendex: FakeGutendex, tmp_path: Path
) -> None:
    gutendex.failures["/files/1.txt"] = [(503, "0")] * 10
    with client(gutendex, tmp_path, retries=2) as gutenberg:
        first, _, lost = gutenberg.search(GutendexQuery())
        with pytest.raises(GutendexError, match="HTTP 503 after 3 attempts"):
            gutenberg.fetch_text(first)
        with pytest.raises(GutendexError, match="HTTP 404"):
            gutenberg.fetch_text(lost)
    assert gutendex.hits["/files/1.txt"] == 3
    assert gutendex.hits["/files/5.txt"] == 1


def test_connection_errors_are_retried(tmp_path: Path) -> None:
    unreachable = GutendexClient(
        tmp_path, "http://127.0.0.1:9", min_interval=0, backoff=0.01, retries=1
    )
    with unreachable, pytest.raises(GutendexError, match=r"ConnectError.*after 2 attempts"):
        list(unreachable.search(GutendexQuery()))


def test_requests_are_spaced_politely(gutendex: FakeGutendex, tmp_path: Path) -> None:
    with client(gutendex, tmp_path, min_interval=0.3) as gutenberg:
        started = time.monotonic()
        entries = list(gutenberg.search(GutendexQuery()))  # 2 pages
        gutenberg.fetch_text(entries[0])
    assert time.monotonic() - started >= 0.6


def test_the_cache_means_nothing_is_fetched_twice(gutendex: FakeGutendex, tmp_path: Path) -> None:
    for _ in range(2):
        with client(gutendex, tmp_path) as gutenberg:
            books = [make() for _, make in list(gutendex_books(gutenberg, GutendexQuery()))[:2]]
    assert [book.ebook_id for book in books] == ["1", "4"]
    assert books[0].title == "First Book"  # the header wins over the catalogue
    assert books[0].subjects == ("Lamplighters -- Fiction", "Best Books Ever Listings")
    assert gutendex.hits == Counter({"/books": 2, "/files/1.txt": 1, "/files/4.txt": 1})


def test_a_page_that_is_not_json_is_an_error_and_is_not_cached(
    gutendex: FakeGutendex, tmp_path: Path
) -> None:
    gutendex.garbage.add("/books")
    with client(gutendex, tmp_path) as gutenberg:
        with pytest.raises(GutendexError, match="not a catalogue page"):
            next(gutenberg.search(GutendexQuery()))
        assert next(gutenberg.search(GutendexQuery())).ebook_id == 1
    assert gutendex.hits["/books"] == 2


def test_retry_after_as_seconds_or_an_http_date() -> None:
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    wait = parse_retry_after(later)
    assert wait is not None and 25 < wait <= 30
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_books_command_from_gutendex_resumes_without_fetching(
    gutendex: FakeGutendex, tmp_path: Path, capsys
) -> None:
    argv = ["books", "--gutendex", "--gutendex-url", gutendex.url, "--topic", "fiction"]
    argv += ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "books"), "--delay", "0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 books written" in err and "1 skipped" in err and "HTTP 404" in err
    assert read_book(tmp_path / "books" / "4.json").subjects[0] == "Lamplighters -- Fiction"
    hits = gutendex.hits.copy()
    assert main(argv) == 0
    assert "0 books written" in capsys.readouterr().err
    assert gutendex.hits - hits == Counter({"/files/5.txt": 1})  # only the lost one, again
