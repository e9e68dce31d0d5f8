"""P6: what keeping a manuscript safe costs, on a whole novel (Moby-Dick, 1.2 MB).

On the GUI thread: the word count after a pause in typing (a full count, and the paragraph-
remembering `WordCounter` after a one-paragraph edit), and turning the journal snapshot into
bytes (every change, within 1.5 s). On the journal's worker thread: writing it (temp file, two
fsyncs, replace). When the writer saves or opens: an atomic save with its backup, and a read
with encoding detection. Medians over several runs; nothing is asserted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from storyloom.core.backups import save_with_backup
from storyloom.core.journal import Journal, JournalEntry, PendingText
from storyloom.core.text_files import encode, read_manuscript
from storyloom.core.word_count import WordCounter, count_words


def median_ms(work: Callable[[], object], runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def test_manuscript_costs_on_a_novel(gutenberg_dir: Path, tmp_path: Path) -> None:
    book = read_manuscript(gutenberg_dir / "2701.txt")
    text = book.text
    words = count_words(text)
    counter = WordCounter()
    counter.count(text)
    edits = iter(range(10**6))
    journal = Journal(tmp_path / "recovery")
    entry = JournalEntry(text, tmp_path / "moby.txt", book.format, PendingText(len(text), "x"))
    data = entry.to_bytes()
    story = tmp_path / "moby.txt"
    versions = [encode(text + suffix, book.format) for suffix in ("a", "b")]

    full_count = median_ms(lambda: count_words(text))
    edited_count = median_ms(lambda: counter.count(text + f" word{next(edits)}"))
    snapshot = median_ms(entry.to_bytes)
    journal_write = median_ms(lambda: journal.write_bytes(data))
    save = median_ms(lambda: save_with_backup(story, versions[next(edits) % 2], keep=10))
    read = median_ms(lambda: read_manuscript(story))
    journal.close()
    print(
        f"\nP6 manuscript ({len(text) / 1e6:.2f} M characters, {words:,} words): "
        f"GUI thread: full word count {full_count:.1f} ms, after an edit {edited_count:.1f} ms, "
        f"journal snapshot to bytes {snapshot:.1f} ms; worker: journal write {journal_write:.1f}"
        f" ms; save with backup {save:.1f} ms, open {read:.1f} ms"
    )
